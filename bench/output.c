/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a bench run: text grouped as the benchmark is, JSON
 * (docs/moat-bench.schema.json), JUnit, SARIF 2.1.0, and a self-contained
 * HTML compliance report.
 */
#include "bench_int.h"

#include <jansson.h>
#include <math.h>
#include <time.h>

int bench_format_parse(const char *s)
{
	static const char *const names[] = { "text", "json", "junit", "sarif", "html" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* One line of evidence, as text. */
static void evidence_line(const struct bench_evidence *e, char *out, size_t size)
{
	if (e->path && e->note) {
		snprintf(out, size, "%s: %s", e->path, e->note);
	} else if (e->path) {
		snprintf(out, size, "%s:%s%s%s%s%s", e->path, e->mode ? " mode " : "",
			 e->mode ? e->mode : "", e->mode && e->owner ? "," : "",
			 e->owner ? " owner " : "", e->owner ? e->owner : "");
	} else if (e->setting && e->value) {
		snprintf(out, size, "%s = %s (%s%s%s)", e->setting, e->value, e->source,
			 e->where && *e->where ? ": " : "", e->where ? e->where : "");
	} else if (e->setting) {
		snprintf(out, size, "%s: %s", e->setting, e->note ? e->note : "unset");
	} else {
		snprintf(out, size, "%s", e->note ? e->note : "");
	}
}

static const char *scored_label(const struct bench_check *c)
{
	return c->automated ? "Automated" : "Manual";
}

/* ---- text ----------------------------------------------------------------- */

static int write_text(const struct bench_run *r, FILE *out, bool color)
{
	static const char *const colors[] = { "\033[32m", "\033[31m", "\033[33m", "\033[34m" };
	const char *reset = color ? "\033[0m" : "";
	const struct bench_node *n = r->node;
	fprintf(out, "moat bench: %s (%s), benchmark %s\n", n->hostname,
		n->live ? "live" : n->root, r->benchmark_reason);
	fprintf(out, "targets: %s\n", r->targets_reason);
	for (size_t i = 0; i < n->nnotes; i++)
		fprintf(out, "note: %s\n", n->notes[i]);
	for (size_t i = 0; i < r->nexpired; i++)
		fprintf(out, "warning: %s\n", r->expired[i]);
	const char *section = NULL, *group = NULL;
	for (size_t i = 0; i < r->nresults; i++) {
		const struct bench_result *res = &r->results[i];
		const struct bench_check *c = res->check;
		if (!section || strcmp(section, c->section) != 0) {
			section = c->section;
			group = NULL;
			fprintf(out, "\n%s== %s %s ==%s\n", color ? "\033[1m" : "", c->section,
				c->section_title, reset);
		}
		if (!group || strcmp(group, c->group) != 0) {
			group = c->group;
			fprintf(out, "-- %s %s --\n", c->group, c->group_title);
		}
		fprintf(out, "[%s%s%s] %s %s (%s)\n", color ? colors[res->status] : "",
			bench_status_name(res->status), reset, c->id, c->title, scored_label(c));
		if (res->status == BENCH_PASS)
			continue;
		if (res->reason)
			fprintf(out, "       %s\n", res->reason);
		for (size_t k = 0; k < res->nevidence; k++) {
			char line[2048];
			evidence_line(&res->evidence[k], line, sizeof(line));
			fprintf(out, "       %s\n", line);
		}
		if (res->waiver)
			fprintf(out, "       waiver: %s\n", res->waiver->where);
		if (res->status == BENCH_FAIL || (res->status == BENCH_WARN && c->test) ||
		    (res->status == BENCH_WARN && c->nfiles))
			fprintf(out, "       fix: %s\n", c->remediation);
	}
	fprintf(out, "\n== Totals ==\n%zu PASS, %zu FAIL, %zu WARN, %zu INFO; ", r->count[BENCH_PASS],
		r->count[BENCH_FAIL], r->count[BENCH_WARN], r->count[BENCH_INFO]);
	if (r->scored_pass + r->scored_fail)
		fprintf(out, "score %.1f%% (%zu of %zu scored controls pass)\n", r->score,
			r->scored_pass, r->scored_pass + r->scored_fail);
	else
		fputs("no scored control was tested\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *evidence_json(const struct bench_evidence *e)
{
	json_t *o = json_object();
	if (e->path)
		json_object_set_new(o, "path", json_string(e->path));
	if (e->mode)
		json_object_set_new(o, "mode", json_string(e->mode));
	if (e->owner)
		json_object_set_new(o, "owner", json_string(e->owner));
	if (e->setting)
		json_object_set_new(o, "setting", json_string(e->setting));
	if (e->value)
		json_object_set_new(o, "value", json_string(e->value));
	if (e->source)
		json_object_set_new(o, "source", json_string(e->source));
	if (e->where && *e->where)
		json_object_set_new(o, "where", json_string(e->where));
	if (e->note)
		json_object_set_new(o, "note", json_string(e->note));
	return o;
}

static json_t *run_json(const struct bench_run *r)
{
	const struct bench_node *n = r->node;
	json_t *root = json_object();
	json_object_set_new(root, "tool", json_pack("{s:s, s:s}", "name", "moat", "version",
						    MOAT_VERSION));
	json_object_set_new(root, "command", json_string("bench"));
	json_object_set_new(root, "benchmark",
			    json_pack("{s:s, s:s}", "id", r->benchmark, "reason", r->benchmark_reason));
	json_t *notes = json_array();
	for (size_t i = 0; i < n->nnotes; i++)
		json_array_append_new(notes, json_string(n->notes[i]));
	json_object_set_new(root, "node",
			    json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", n->hostname, "mode",
				      n->live ? "live" : "offline", "root", n->root,
				      "kubernetesVersion", jstr(n->k8s_version), "versionSource",
				      jstr(n->version_source), "notes", notes));
	json_t *targets = json_array();
	for (size_t i = 0; i < r->ntargets; i++)
		json_array_append_new(targets, json_string(r->targets[i]));
	json_object_set_new(root, "targets",
			    json_pack("{s:o, s:s}", "selected", targets, "reason", r->targets_reason));
	json_t *checks = json_array();
	for (size_t i = 0; i < r->nresults; i++) {
		const struct bench_result *res = &r->results[i];
		const struct bench_check *c = res->check;
		json_t *ev = json_array();
		for (size_t k = 0; k < res->nevidence; k++)
			json_array_append_new(ev, evidence_json(&res->evidence[k]));
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:s}", "id", c->id,
				      "title", c->title, "section", c->section, "group", c->group,
				      "target", c->target, "status", bench_status_name(res->status),
				      "scored", c->automated, "reason", jstr(res->reason), "evidence",
				      ev, "remediation", c->remediation);
		if (c->audit)
			json_object_set_new(o, "audit", json_string(c->audit));
		if (res->waiver)
			json_object_set_new(o, "waiver",
					    json_pack("{s:s, s:s}", "reason", res->waiver->reason,
						      "where", res->waiver->where));
		json_array_append_new(checks, o);
	}
	json_object_set_new(root, "checks", checks);
	json_object_set_new(root, "totals",
			    json_pack("{s:I, s:I, s:I, s:I}", "pass",
				      (json_int_t)r->count[BENCH_PASS], "fail",
				      (json_int_t)r->count[BENCH_FAIL], "warn",
				      (json_int_t)r->count[BENCH_WARN], "info",
				      (json_int_t)r->count[BENCH_INFO]));
	json_object_set_new(root, "score",
			    json_pack("{s:f, s:I, s:I}", "percent", round(r->score * 10) / 10,
				      "scoredPass", (json_int_t)r->scored_pass, "scoredTotal",
				      (json_int_t)(r->scored_pass + r->scored_fail)));
	json_t *expired = json_array();
	for (size_t i = 0; i < r->nexpired; i++)
		json_array_append_new(expired, json_string(r->expired[i]));
	json_object_set_new(root, "expiredWaivers", expired);
	return root;
}

/* ---- JUnit ------------------------------------------------------------------ */

static void xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			if (ch < 0x20 && ch != '\n' && ch != '\t')
				fputc('?', out); /* not allowed in XML 1.0 */
			else
				fputc(ch, out);
		}
	}
}

static void evidence_block(FILE *out, const struct bench_result *res)
{
	for (size_t k = 0; k < res->nevidence; k++) {
		char line[2048];
		evidence_line(&res->evidence[k], line, sizeof(line));
		xml_escape(out, line);
		fputc('\n', out);
	}
}

static int write_junit(const struct bench_run *r, FILE *out)
{
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	fprintf(out, "<testsuites name=\"moat bench %s\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n",
		r->benchmark, r->nresults, r->count[BENCH_FAIL],
		r->count[BENCH_WARN] + r->count[BENCH_INFO]);
	for (size_t i = 0; i < r->nresults;) {
		const char *section = r->results[i].check->section;
		size_t end = i, fails = 0, skips = 0;
		for (; end < r->nresults && strcmp(r->results[end].check->section, section) == 0; end++) {
			fails += r->results[end].status == BENCH_FAIL;
			skips += r->results[end].status >= BENCH_WARN;
		}
		fputs("  <testsuite name=\"", out);
		xml_escape(out, section);
		fputc(' ', out);
		xml_escape(out, r->results[i].check->section_title);
		fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n", end - i, fails,
			skips);
		for (; i < end; i++) {
			const struct bench_result *res = &r->results[i];
			fputs("    <testcase classname=\"", out);
			xml_escape(out, res->check->group);
			fputs("\" name=\"", out);
			xml_escape(out, res->check->id);
			fputc(' ', out);
			xml_escape(out, res->check->title);
			fputs("\">", out);
			if (res->status == BENCH_FAIL) {
				fputs("<failure message=\"", out);
				xml_escape(out, res->reason);
				fputs("\">", out);
				evidence_block(out, res);
				fputs("fix: ", out);
				xml_escape(out, res->check->remediation);
				fputs("</failure>", out);
			} else if (res->status != BENCH_PASS) {
				fprintf(out, "<skipped message=\"%s: ", bench_status_name(res->status));
				xml_escape(out, res->reason);
				fputs("\"/>", out);
			}
			fputs("</testcase>\n", out);
		}
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- SARIF --------------------------------------------------------------------- */

/* A result's location: the file evidence names, or the file a setting came
 * from (path:line), relative to the root so code scanning can place it. */
static json_t *sarif_location(const struct bench_node *n, const struct bench_result *res)
{
	for (size_t k = 0; k < res->nevidence; k++) {
		const struct bench_evidence *e = &res->evidence[k];
		char path[1024] = "";
		unsigned line = 1;
		if (e->path) {
			snprintf(path, sizeof(path), "%s", e->path);
		} else if (e->where && e->where[0] == '/') {
			snprintf(path, sizeof(path), "%s", e->where);
			char *colon = strrchr(path, ':');
			if (colon && colon[1] >= '0' && colon[1] <= '9') {
				line = (unsigned)strtoul(colon + 1, NULL, 10);
				*colon = '\0';
			}
		}
		if (!path[0])
			continue;
		const char *rel = path;
		while (*rel == '/')
			rel++;
		return json_pack("[{s:{s:{s:s}, s:{s:i}}}]", "physicalLocation", "artifactLocation",
				 "uri", rel, "region", "startLine", line ? (int)line : 1);
	}
	/* No file in the evidence (a manual control, a default): point at the
	 * file the component's command line came from. */
	const struct bench_proc *p =
		res->check->component ? bench_node_proc(n, res->check->component) : NULL;
	if (p && p->source_file) {
		const char *rel = p->source_file;
		while (*rel == '/')
			rel++;
		return json_pack("[{s:{s:{s:s}, s:{s:i}}}]", "physicalLocation", "artifactLocation",
				 "uri", rel, "region", "startLine", 1);
	}
	return json_array();
}

static int write_sarif(const struct bench_run *r, FILE *out)
{
	json_t *rules = json_array(), *results = json_array();
	for (size_t i = 0; i < r->nresults; i++) {
		const struct bench_result *res = &r->results[i];
		const struct bench_check *c = res->check;
		char rule_id[128];
		snprintf(rule_id, sizeof(rule_id), "%s/%s", r->benchmark, c->id);
		json_array_append_new(
			rules, json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[s,s]}}", "id",
					 rule_id, "name", c->id, "shortDescription", "text", c->title,
					 "help", "text", c->remediation, "defaultConfiguration",
					 "level", c->automated ? "error" : "warning", "properties",
					 "tags", c->target, c->automated ? "scored" : "not-scored"));
		if (res->status != BENCH_FAIL && res->status != BENCH_WARN)
			continue;
		struct sbuf msg = { 0 };
		sbuf_printf(&msg, "%s %s: %s", c->id, c->title, res->reason ? res->reason : "");
		for (size_t k = 0; k < res->nevidence; k++) {
			char line[2048];
			evidence_line(&res->evidence[k], line, sizeof(line));
			sbuf_printf(&msg, "\n%s", line);
		}
		json_array_append_new(
			results, json_pack("{s:s, s:i, s:s, s:{s:s}, s:o, s:{s:s}}", "ruleId", rule_id,
					   "ruleIndex", (int)i, "level",
					   res->status == BENCH_FAIL ? "error" : "warning", "message",
					   "text", msg.s, "locations", sarif_location(r->node, res),
					   "partialFingerprints", "moatBench/v1", rule_id));
		sbuf_release(&msg);
	}
	json_t *doc = json_pack(
		"{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o, s:[{s:b}]}]}", "$schema",
		"https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs", "tool",
		"driver", "name", "moat", "version", MOAT_VERSION, "informationUri",
		"https://github.com/moat/moat", "rules", rules, "results", results, "invocations",
		"executionSuccessful", true);
	int rc = json_write(out, doc, true);
	json_decref(doc);
	return rc;
}

/* ---- HTML ------------------------------------------------------------------------ */

static void html_escape(FILE *out, const char *s)
{
	xml_escape(out, s);
}

/* A donut of the four statuses, as inline SVG: the report opens offline. */
static void html_chart(FILE *out, const struct bench_run *r)
{
	static const char *const fill[] = { "#2e7d32", "#c62828", "#ef8f00", "#1565c0" };
	double total = (double)r->nresults, start = 0, rad = 60, circ = 2 * M_PI * rad;
	fputs("<svg width=\"160\" height=\"160\" viewBox=\"0 0 160 160\" role=\"img\" "
	      "aria-label=\"results by status\">", out);
	fputs("<circle cx=\"80\" cy=\"80\" r=\"60\" fill=\"none\" stroke=\"#eee\" stroke-width=\"24\"/>",
	      out);
	for (int s = 0; s < 4 && total > 0; s++) {
		double part = (double)r->count[s] / total * circ;
		if (part <= 0)
			continue;
		fprintf(out, "<circle cx=\"80\" cy=\"80\" r=\"60\" fill=\"none\" stroke=\"%s\" "
			     "stroke-width=\"24\" stroke-dasharray=\"%.2f %.2f\" "
			     "stroke-dashoffset=\"%.2f\" transform=\"rotate(-90 80 80)\"/>",
			fill[s], part, circ - part, -start);
		start += part;
	}
	fprintf(out, "<text x=\"80\" y=\"86\" text-anchor=\"middle\" font-size=\"20\" "
		     "font-weight=\"bold\">%.0f%%</text></svg>\n", r->score);
}

static int write_html(const struct bench_run *r, FILE *out)
{
	const struct bench_node *n = r->node;
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>moat bench: ",
	      out);
	html_escape(out, n->hostname);
	fputs("</title>\n<style>\n"
	      "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}\n"
	      "h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}\n"
	      "table{border-collapse:collapse;width:100%;margin:.5em 0}\n"
	      "td,th{border:1px solid #ddd;padding:.3em .5em;vertical-align:top;text-align:left}\n"
	      "th{background:#f5f5f5}.st{font-weight:bold;color:#fff;border-radius:3px;padding:0 .4em}\n"
	      ".PASS{background:#2e7d32}.FAIL{background:#c62828}.WARN{background:#ef8f00}"
	      ".INFO{background:#1565c0}\n"
	      ".ev{font-family:monospace;font-size:.85em;white-space:pre-wrap}\n"
	      ".summary{display:flex;gap:2em;align-items:center}.muted{color:#666}\n"
	      "</style></head><body>\n",
	      out);
	fputs("<h1>CIS Kubernetes Benchmark report: ", out);
	html_escape(out, n->hostname);
	fputs("</h1>\n<div class=\"summary\">", out);
	html_chart(out, r);
	fputs("<table style=\"width:auto\">", out);
	fprintf(out, "<tr><th>Score</th><td>%.1f%% (%zu of %zu scored controls pass)</td></tr>",
		r->score, r->scored_pass, r->scored_pass + r->scored_fail);
	for (int s = 0; s < 4; s++)
		fprintf(out, "<tr><th><span class=\"st %s\">%s</span></th><td>%zu</td></tr>",
			bench_status_name(s), bench_status_name(s), r->count[s]);
	fputs("</table><table style=\"width:auto\"><tr><th>Benchmark</th><td>", out);
	html_escape(out, r->benchmark_reason);
	fputs("</td></tr><tr><th>Node</th><td>", out);
	html_escape(out, n->live ? "live system" : n->root);
	fputs("</td></tr><tr><th>Targets</th><td>", out);
	html_escape(out, r->targets_reason);
	fprintf(out, "</td></tr><tr><th>Generated</th><td>%s by moat %s</td></tr></table></div>\n",
		when, MOAT_VERSION);
	if (n->nnotes || r->nexpired) {
		fputs("<h2>Notes</h2><ul>", out);
		for (size_t i = 0; i < n->nnotes; i++) {
			fputs("<li>", out);
			html_escape(out, n->notes[i]);
			fputs("</li>", out);
		}
		for (size_t i = 0; i < r->nexpired; i++) {
			fputs("<li>", out);
			html_escape(out, r->expired[i]);
			fputs("</li>", out);
		}
		fputs("</ul>\n", out);
	}
	const char *section = NULL;
	for (size_t i = 0; i < r->nresults; i++) {
		const struct bench_result *res = &r->results[i];
		const struct bench_check *c = res->check;
		if (!section || strcmp(section, c->section) != 0) {
			if (section)
				fputs("</table>\n", out);
			section = c->section;
			fputs("<h2>", out);
			html_escape(out, c->section);
			fputc(' ', out);
			html_escape(out, c->section_title);
			fputs("</h2>\n<table><tr><th>Control</th><th>Status</th><th>Title</th>"
			      "<th>Evidence</th><th>Remediation</th></tr>\n", out);
		}
		fputs("<tr><td>", out);
		html_escape(out, c->id);
		fprintf(out, "</td><td><span class=\"st %s\">%s</span></td><td>",
			bench_status_name(res->status), bench_status_name(res->status));
		html_escape(out, c->title);
		fprintf(out, " <span class=\"muted\">(%s)</span></td><td class=\"ev\">", scored_label(c));
		if (res->reason) {
			html_escape(out, res->reason);
			fputc('\n', out);
		}
		evidence_block(out, res);
		fputs("</td><td>", out);
		html_escape(out, c->remediation);
		fputs("</td></tr>\n", out);
	}
	if (section)
		fputs("</table>\n", out);
	bool any_waiver = false;
	for (size_t i = 0; i < r->nresults; i++)
		any_waiver = any_waiver || r->results[i].waiver;
	if (any_waiver) {
		fputs("<h2>Waivers</h2>\n<table><tr><th>Control</th><th>Reason</th><th>Expires</th>"
		      "<th>Defined at</th></tr>\n", out);
		for (size_t i = 0; i < r->nresults; i++) {
			const struct bench_waiver *w = r->results[i].waiver;
			if (!w)
				continue;
			time_t t = (time_t)w->expires_days * 86400;
			char date[32];
			strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&t, &tm));
			fputs("<tr><td>", out);
			html_escape(out, w->check);
			fputs("</td><td>", out);
			html_escape(out, w->reason);
			fprintf(out, "</td><td>%s</td><td>", date);
			html_escape(out, w->where);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("</body></html>\n", out);
	return ferror(out) ? -1 : 0;
}

int bench_write(const struct bench_run *r, enum bench_format f, FILE *out, bool color)
{
	switch (f) {
	case BENCH_TEXT:
		return write_text(r, out, color);
	case BENCH_JSON: {
		json_t *doc = run_json(r);
		int rc = json_write(out, doc, true);
		json_decref(doc);
		return rc;
	}
	case BENCH_JUNIT:
		return write_junit(r, out);
	case BENCH_SARIF:
		return write_sarif(r, out);
	case BENCH_HTML:
		return write_html(r, out);
	}
	return -1;
}
