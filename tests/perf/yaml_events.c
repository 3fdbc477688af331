/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer for tests/perf/policy: read each file and pull every libyaml
 * event, nothing else.  This is the floor any YAML-reading checker pays;
 * moat's overhead is measured against it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int main(int argc, char **argv)
{
	unsigned long events = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 2;
		}
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		rewind(f);
		unsigned char *buf = malloc((size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			perror(argv[i]);
			return 2;
		}
		fclose(f);
		yaml_parser_t p;
		yaml_parser_initialize(&p);
		yaml_parser_set_input_string(&p, buf, (size_t)n);
		for (;;) {
			yaml_event_t ev;
			if (!yaml_parser_parse(&p, &ev)) {
				fprintf(stderr, "%s: %s\n", argv[i], p.problem);
				return 2;
			}
			int end = ev.type == YAML_STREAM_END_EVENT;
			yaml_event_delete(&ev);
			events++;
			if (end)
				break;
		}
		yaml_parser_delete(&p);
		free(buf);
	}
	printf("%lu\n", events);
	return 0;
}
