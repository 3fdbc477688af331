/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client event logs: the parser, the replay into PCR values, the
 * search for the event that broke a replay, and the printers.
 *
 * The layouts follow the TCG PC Client Platform Firmware Profile (PFP)
 * 1.05, sections 10.2.1 (TCG_PCClientPCREvent), 10.2.2 (TCG_PCR_EVENT2) and
 * 9.4.5.1 (TCG_EfiSpecIDEventStruct).  Everything is little-endian.
 */
#include "attest.h"

#include <errno.h>

#define SPEC_ID_SIG "Spec ID Event03"
#define STARTUP_LOCALITY_SIG "StartupLocality"
/* pcr, type, sha1[20], size: the header of a TCG_PCClientPCREvent. */
#define LEGACY_HEADER 32u
/* An event's digests are searched for every inserted or swapped event in
 * first_bad: quadratic, so a PCR with more events than this is only
 * checked for changed events. */
#define FIRST_BAD_MAX_EVENTS 2048

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- event types ---------------------------------------------------------- */

static const struct {
	uint32_t type;
	const char *name;
} event_types[] = {
	{ EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
	{ EV_POST_CODE, "EV_POST_CODE" },
	{ 0x00000002, "EV_UNUSED" },
	{ EV_NO_ACTION, "EV_NO_ACTION" },
	{ EV_SEPARATOR, "EV_SEPARATOR" },
	{ EV_ACTION, "EV_ACTION" },
	{ EV_EVENT_TAG, "EV_EVENT_TAG" },
	{ EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
	{ EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
	{ EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
	{ EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
	{ EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES" },
	{ EV_COMPACT_HASH, "EV_COMPACT_HASH" },
	{ EV_IPL, "EV_IPL" },
	{ EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA" },
	{ EV_NONHOST_CODE, "EV_NONHOST_CODE" },
	{ EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG" },
	{ EV_NONHOST_INFO, "EV_NONHOST_INFO" },
	{ EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ EV_EFI_EVENT_BASE, "EV_EFI_EVENT_BASE" },
	{ EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
	{ EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
	{ EV_EFI_ACTION, "EV_EFI_ACTION" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
	{ EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
	{ EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
	{ EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
	{ EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *attest_event_type_name(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(event_types); i++)
		if (event_types[i].type == type)
			return event_types[i].name;
	return NULL;
}

int64_t attest_event_type_from_name(const char *name)
{
	if (!name || !*name)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(event_types); i++)
		if (strcasecmp(event_types[i].name, name) == 0)
			return event_types[i].type;
	/* A number, decimal or 0x-hex, for types the spec does not name. */
	char *end;
	errno = 0;
	unsigned long long v = strtoull(name, &end, 0);
	if (errno || *end || name[0] == '-' || name[0] == '+' || v > UINT32_MAX)
		return -1;
	return (int64_t)v;
}

/* ---- parsing --------------------------------------------------------------- */

static bool starts_with(const uint8_t *data, uint32_t len, const char *sig)
{
	size_t n = strlen(sig) + 1; /* the NUL is part of the signature */
	return len >= n && memcmp(data, sig, n) == 0;
}

/* TCG_EfiSpecIDEventStruct (PFP 9.4.5.1): signature[16], platformClass u32,
 * specVersionMinor/Major, specErrata, uintnSize (u8 each),
 * numberOfAlgorithms u32, {algorithmId u16, digestSize u16}[n],
 * vendorInfoSize u8, vendorInfo. */
static int parse_spec_id(struct attest_eventlog *log, struct attest_event *ev, size_t buf_len,
			 struct moat_error *err)
{
	const uint8_t *d = ev->data;
	uint32_t len = ev->data_len;
	size_t base = ev->offset + LEGACY_HEADER;
	if (len < 28)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event 0: Spec ID event of %u bytes is "
				      "shorter than its 28-byte header",
				      log->name, base, len);
	uint32_t n = le32(d + 24);
	if (n == 0 || n > ATTEST_MAX_BANKS)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event 0: Spec ID event declares %u "
				      "algorithms (1 to %d allowed)",
				      log->name, base + 24, n, ATTEST_MAX_BANKS);
	if (len < 28 + 4 * n + 1)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event 0: Spec ID event of %u bytes "
				      "cannot hold %u algorithms",
				      log->name, base, len, n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *a = d + 28 + 4 * i;
		uint16_t alg = le16(a), size = le16(a + 2);
		uint16_t known = attest_alg_size(alg);
		if (size == 0 || size > ATTEST_MAX_DIGEST || (known && known != size))
			return moat_error_set(
				err, EBADMSG,
				"%s: offset %zu: event 0: algorithm 0x%04x has digest size %u%s",
				log->name, base + 28 + 4 * i, alg, size,
				known ? ", which is not its size" : ", out of range");
		for (uint32_t j = 0; j < i; j++)
			if (log->algs[j].alg == alg)
				return moat_error_set(err, EBADMSG,
						      "%s: offset %zu: event 0: algorithm 0x%04x "
						      "listed twice",
						      log->name, base + 28 + 4 * i, alg);
		log->algs[i].alg = alg;
		log->algs[i].size = size;
	}
	uint8_t vendor = d[28 + 4 * n];
	uint32_t need = 28 + 4 * n + 1 + vendor;
	if (len < need) {
		/*
		 * Some logs leave vendorInfo out of the event size; tpm2_eventlog
		 * reads it anyway and starts the next event after it.  Do the
		 * same when the bytes are there.
		 */
		if (need - len > buf_len - (base + len))
			return moat_error_set(err, EBADMSG,
					      "%s: offset %zu: event 0: vendor info of %u bytes runs "
					      "past the end of the log",
					      log->name, base + 28 + 4 * n, vendor);
		ev->data_len = need;
	}
	log->nalgs = n;
	log->crypto_agile = true;
	return 0;
}

static void note_startup_locality(struct attest_eventlog *log, const struct attest_event *ev)
{
	if (ev->type == EV_NO_ACTION && ev->pcr == 0 &&
	    starts_with(ev->data, ev->data_len, STARTUP_LOCALITY_SIG) &&
	    ev->data_len >= sizeof(STARTUP_LOCALITY_SIG) + 1) {
		log->has_startup_locality = true;
		log->startup_locality = ev->data[sizeof(STARTUP_LOCALITY_SIG)];
	}
}

static int event_data(const struct attest_eventlog *log, struct attest_event *ev,
		      const uint8_t *buf, size_t len, size_t at, struct moat_error *err)
{
	if (len - at < 4)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: the log ends inside the event "
				      "size field (%zu bytes)",
				      log->name, at, ev->index, len);
	uint32_t size = le32(buf + at);
	if (size > len - at - 4)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: event size %u runs past the end "
				      "of the log (%zu bytes)",
				      log->name, at, ev->index, size, len);
	if (size > ATTEST_MAX_EVENT_DATA)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: event size %u exceeds the limit "
				      "of %u bytes",
				      log->name, at, ev->index, size, ATTEST_MAX_EVENT_DATA);
	ev->data = buf + at + 4;
	ev->data_len = size;
	return 0;
}

/* TCG_PCClientPCREvent: pcr, type, sha1[20], size, data. */
static int parse_legacy(const struct attest_eventlog *log, struct attest_event *ev,
			const uint8_t *buf, size_t len, size_t *at, struct moat_error *err)
{
	size_t o = *at;
	if (len - o < LEGACY_HEADER)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: truncated event header (%zu of %u "
				      "bytes)",
				      log->name, o, ev->index, len - o, LEGACY_HEADER);
	ev->pcr = le32(buf + o);
	ev->type = le32(buf + o + 4);
	ev->ndigests = 1;
	ev->digests[0].alg = TPM_ALG_SHA1;
	ev->digests[0].size = 20;
	ev->digests[0].d = buf + o + 8;
	if (event_data(log, ev, buf, len, o + 28, err) < 0)
		return -1;
	*at = o + LEGACY_HEADER + ev->data_len;
	return 0;
}

/* TCG_PCR_EVENT2: pcr, type, TPML_DIGEST_VALUES {count, {alg, digest}[]},
 * size, data.  Digest sizes come from the Spec ID event. */
static int parse_event2(const struct attest_eventlog *log, struct attest_event *ev,
			const uint8_t *buf, size_t len, size_t *at, struct moat_error *err)
{
	size_t o = *at;
	if (len - o < 12)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: truncated event header (%zu of 12 "
				      "bytes)",
				      log->name, o, ev->index, len - o);
	ev->pcr = le32(buf + o);
	ev->type = le32(buf + o + 4);
	uint32_t count = le32(buf + o + 8);
	if (count > log->nalgs)
		return moat_error_set(err, EBADMSG,
				      "%s: offset %zu: event %u: digest count %u exceeds the %u "
				      "banks the Spec ID event declares",
				      log->name, o + 8, ev->index, count, log->nalgs);
	size_t p = o + 12;
	for (uint32_t i = 0; i < count; i++) {
		if (len - p < 2)
			return moat_error_set(err, EBADMSG,
					      "%s: offset %zu: event %u: the log ends inside digest "
					      "%u",
					      log->name, p, ev->index, i);
		uint16_t alg = le16(buf + p);
		uint16_t size = 0;
		for (uint32_t j = 0; j < log->nalgs; j++)
			if (log->algs[j].alg == alg)
				size = log->algs[j].size;
		if (!size)
			return moat_error_set(err, EBADMSG,
					      "%s: offset %zu: event %u: digest %u has algorithm "
					      "0x%04x, not one the Spec ID event declares",
					      log->name, p, ev->index, i, alg);
		for (uint32_t j = 0; j < i; j++)
			if (ev->digests[j].alg == alg)
				return moat_error_set(err, EBADMSG,
						      "%s: offset %zu: event %u: algorithm 0x%04x "
						      "appears twice",
						      log->name, p, ev->index, alg);
		if (len - p - 2 < size)
			return moat_error_set(err, EBADMSG,
					      "%s: offset %zu: event %u: %u-byte digest runs past "
					      "the end of the log (%zu bytes)",
					      log->name, p + 2, ev->index, size, len);
		ev->digests[i].alg = alg;
		ev->digests[i].size = size;
		ev->digests[i].d = buf + p + 2;
		p += 2u + size;
	}
	ev->ndigests = count;
	if (event_data(log, ev, buf, len, p, err) < 0)
		return -1;
	*at = p + 4 + ev->data_len;
	return 0;
}

/* Where a run of `byte` reaching the end of buf starts. */
static size_t tail_run(const uint8_t *buf, size_t len, uint8_t byte)
{
	size_t i = len;
	while (i > 0 && buf[i - 1] == byte)
		i--;
	return i;
}

int attest_eventlog_parse(const uint8_t *buf, size_t len, const char *name,
			  struct attest_eventlog *log, struct moat_error *err)
{
	memset(log, 0, sizeof(*log));
	log->name = name ? name : "eventlog";
	if (len == 0)
		return moat_error_set(err, EBADMSG, "%s: offset 0: empty event log", log->name);
	/*
	 * Firmware reserves a fixed area for the log and some hand it over
	 * whole, the unused rest filled with 0x00 or 0xff.  Like tpm2_eventlog
	 * and go-attestation, the log ends where only such filler remains; a
	 * real event never starts there (it would be PCR 0, type 0 with an
	 * empty digest list, or PCR 0xffffffff).
	 */
	size_t pad00 = tail_run(buf, len, 0x00), padff = tail_run(buf, len, 0xff);
	size_t cap = 0, at = 0;
	while (at < len) {
		if (log->nevents > 0 && (at >= pad00 || at >= padff))
			break;
		if (log->nevents >= ATTEST_MAX_EVENTS) {
			moat_error_set(err, EBADMSG,
				       "%s: offset %zu: more than %d events", log->name, at,
				       ATTEST_MAX_EVENTS);
			goto fail;
		}
		log->events = grow_array(log->events, &cap, log->nevents + 1, sizeof(*log->events));
		struct attest_event *ev = &log->events[log->nevents];
		memset(ev, 0, sizeof(*ev));
		ev->offset = at;
		ev->index = (uint32_t)log->nevents;
		int r = log->crypto_agile ? parse_event2(log, ev, buf, len, &at, err)
					  : parse_legacy(log, ev, buf, len, &at, err);
		if (r < 0)
			goto fail;
		log->nevents++;
		if (ev->index == 0 && ev->type == EV_NO_ACTION &&
		    starts_with(ev->data, ev->data_len, SPEC_ID_SIG)) {
			if (parse_spec_id(log, ev, len, err) < 0)
				goto fail;
			at = ev->offset + LEGACY_HEADER + ev->data_len;
			continue;
		}
		note_startup_locality(log, ev);
	}
	if (!log->crypto_agile) {
		log->nalgs = 1;
		log->algs[0].alg = TPM_ALG_SHA1;
		log->algs[0].size = 20;
	}
	return 0;
fail:
	attest_eventlog_free(log);
	return -1;
}

void attest_eventlog_free(struct attest_eventlog *log)
{
	if (!log)
		return;
	free(log->events);
	log->events = NULL;
	log->nevents = 0;
}

/* ---- replay ------------------------------------------------------------------ */

static const struct attest_digest *event_digest(const struct attest_event *ev, uint16_t alg)
{
	for (uint32_t i = 0; i < ev->ndigests; i++)
		if (ev->digests[i].alg == alg)
			return &ev->digests[i];
	return NULL;
}

/* PFP 3.3.4.1 and 10.4.5: PCR 0 starts with the locality the CRTM ran at in
 * its last byte; the dynamic-launch PCRs 17-22 start at all ones. */
static void pcr_initial(const struct attest_eventlog *log, uint32_t pcr, uint16_t size,
			uint8_t *out)
{
	memset(out, pcr >= 17 && pcr <= 22 ? 0xff : 0x00, size);
	if (pcr == 0 && log->has_startup_locality)
		out[size - 1] = log->startup_locality;
}

static bool extends(const struct attest_event *ev)
{
	return ev->type != EV_NO_ACTION && ev->pcr < ATTEST_NUM_PCRS;
}

void attest_eventlog_replay(const struct attest_eventlog *log, struct attest_pcrs *out)
{
	struct attest_pcrs mine;
	mine.nbanks = 0;
	for (uint32_t i = 0; i < log->nalgs; i++)
		attest_pcrs_add_bank(&mine, log->algs[i].alg); /* NULL: moat cannot hash it */
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		if (!extends(ev))
			continue;
		for (uint32_t d = 0; d < ev->ndigests; d++) {
			struct attest_pcr_bank *b = attest_pcrs_bank(&mine, ev->digests[d].alg);
			if (!b || ev->digests[d].size != b->size)
				continue;
			if (!(b->set & (1u << ev->pcr))) {
				pcr_initial(log, ev->pcr, b->size, b->pcr[ev->pcr]);
				b->set |= 1u << ev->pcr;
			}
			attest_extend(b->alg, b->pcr[ev->pcr], ev->digests[d].d);
		}
	}
	for (size_t i = 0; i < mine.nbanks; i++) {
		const struct attest_pcr_bank *src = &mine.bank[i];
		if (!src->set)
			continue;
		struct attest_pcr_bank *dst = attest_pcrs_add_bank(out, src->alg);
		if (!dst)
			continue;
		for (uint32_t p = 0; p < ATTEST_NUM_PCRS; p++)
			if (src->set & (1u << p)) {
				memcpy(dst->pcr[p], src->pcr[p], src->size);
				dst->set |= 1u << p;
			}
	}
}

/* ---- finding the bad event ---------------------------------------------------- */

/*
 * Types whose digest PFP defines as the hash of the event data as logged.
 * EV_EFI_VARIABLE_BOOT is not here: firmware differs on whether the whole
 * UEFI_VARIABLE_DATA or only VariableData is hashed, and shim does the
 * same with the EV_EFI_VARIABLE_AUTHORITY events it logs (go-attestation's
 * sb_cert_eventlog); nor are EV_IPL and EV_EVENT_TAG, which GRUB and
 * systemd log as text around what they hashed.
 */
static bool digest_is_data_hash(uint32_t type)
{
	switch (type) {
	case EV_SEPARATOR:
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_GPT_EVENT:
	case EV_OMIT_BOOT_DEVICE_EVENTS:
	case EV_EFI_HCRTM_EVENT:
		return true;
	}
	return false;
}

bool attest_event_digest_mismatch(const struct attest_event *ev)
{
	if (!digest_is_data_hash(ev->type))
		return false;
	for (uint32_t i = 0; i < ev->ndigests; i++) {
		uint8_t h[ATTEST_MAX_DIGEST];
		const struct attest_digest *d = &ev->digests[i];
		if (attest_alg_size(d->alg) != d->size || attest_hash(d->alg, ev->data, ev->data_len, h) < 0)
			continue;
		if (memcmp(h, d->d, d->size) != 0)
			return true;
	}
	return false;
}

/* Replays digests[from..n) of one PCR onto start, skipping index `skip`
 * (n for none) and swapping positions swap and swap+1 (n for none). */
static bool replay_matches(uint16_t alg, uint16_t size, const uint8_t *start,
			   const uint8_t *const *dg, size_t from, size_t n, size_t skip, size_t swap,
			   const uint8_t *want)
{
	uint8_t v[ATTEST_MAX_DIGEST];
	memcpy(v, start, size);
	for (size_t i = from; i < n; i++) {
		if (i == skip)
			continue;
		size_t k = i;
		if (i == swap)
			k = i + 1;
		else if (swap < n && i == swap + 1)
			k = swap;
		attest_extend(alg, v, dg[k]);
	}
	return memcmp(v, want, size) == 0;
}

long attest_eventlog_first_bad(const struct attest_eventlog *log, uint16_t alg,
			       uint32_t pcr, const uint8_t *want)
{
	uint16_t size = attest_alg_size(alg);
	if (!size || pcr >= ATTEST_NUM_PCRS || !want)
		return -1;
	size_t n = 0;
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		if (ev->pcr != pcr || !extends(ev) || !event_digest(ev, alg))
			continue;
		if (attest_event_digest_mismatch(ev))
			return (long)e;
		n++;
	}
	if (n == 0)
		return -1;
	_cleanup_free_ const uint8_t **dg = xcalloc(n, sizeof(*dg));
	_cleanup_free_ size_t *idx = xcalloc(n, sizeof(*idx));
	_cleanup_free_ uint8_t *prefix = xcalloc(n + 1, ATTEST_MAX_DIGEST);
	n = 0;
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		const struct attest_digest *d;
		if (ev->pcr != pcr || !extends(ev) || !(d = event_digest(ev, alg)) || d->size != size)
			continue;
		dg[n] = d->d;
		idx[n++] = e;
	}
	/* prefix + i*MAX: the PCR after the first i events. */
	pcr_initial(log, pcr, size, prefix);
	for (size_t i = 0; i < n; i++) {
		memcpy(prefix + (i + 1) * ATTEST_MAX_DIGEST, prefix + i * ATTEST_MAX_DIGEST, size);
		attest_extend(alg, prefix + (i + 1) * ATTEST_MAX_DIGEST, dg[i]);
	}
	if (memcmp(prefix + n * ATTEST_MAX_DIGEST, want, size) == 0 || n > FIRST_BAD_MAX_EVENTS)
		return -1;
	for (size_t k = 0; k < n; k++)
		if (replay_matches(alg, size, prefix + k * ATTEST_MAX_DIGEST, dg, k, n, k, n, want))
			return (long)idx[k];
	for (size_t k = 0; k + 1 < n; k++) {
		if (memcmp(dg[k], dg[k + 1], size) == 0)
			continue;
		if (replay_matches(alg, size, prefix + k * ATTEST_MAX_DIGEST, dg, k, n, n, k, want))
			return (long)idx[k];
	}
	return -1;
}

/* ---- printing ------------------------------------------------------------------ */

/* The event data as text, when it is printable ASCII (a trailing NUL
 * allowed): EV_EFI_ACTION strings, GRUB's EV_IPL commands. */
static bool data_text(const struct attest_event *ev, size_t *n)
{
	size_t len = ev->data_len;
	if (len && ev->data[len - 1] == 0)
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = ev->data[i];
		if ((c < 0x20 || c > 0x7e) && c != '\n' && c != '\t')
			return false;
	}
	*n = len;
	return true;
}

static void put_type(FILE *out, uint32_t type, bool quoted)
{
	const char *name = attest_event_type_name(type);
	if (name)
		fprintf(out, quoted ? "\"%s\"" : "%s", name);
	else
		fprintf(out, quoted ? "\"0x%08x\"" : "0x%08x", type);
}

static const char *alg_label(uint16_t alg, char *buf, size_t n)
{
	const char *name = attest_alg_name(alg);
	if (name)
		return name;
	snprintf(buf, n, "0x%04x", alg);
	return buf;
}

static void print_text(FILE *out, const struct attest_eventlog *log)
{
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		fprintf(out, "%4u  offset %-6zu  PCR %-2u  ", ev->index, ev->offset, ev->pcr);
		put_type(out, ev->type, false);
		for (uint32_t d = 0; d < ev->ndigests; d++) {
			char b[8];
			fprintf(out, "  %s:", alg_label(ev->digests[d].alg, b, sizeof(b)));
			hex_fput(out, ev->digests[d].d, ev->digests[d].size);
		}
		size_t n;
		if (data_text(ev, &n)) {
			fputs("  ", out);
			json_put_string(out, (const char *)ev->data, n > 64 ? 64 : n, true);
			if (n > 64)
				fputs("...", out);
		} else {
			fprintf(out, "  [%u bytes]", ev->data_len);
		}
		putc('\n', out);
	}
}

static void print_pcrs_json(FILE *out, const struct attest_pcrs *p)
{
	fputs(",\n  \"pcrs\": {", out);
	bool first_bank = true;
	for (size_t i = 0; i < p->nbanks; i++) {
		const struct attest_pcr_bank *b = &p->bank[i];
		char lb[8];
		fprintf(out, "%s\n    \"%s\": {", first_bank ? "" : ",", alg_label(b->alg, lb, sizeof(lb)));
		first_bank = false;
		bool first = true;
		for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++) {
			if (!(b->set & (1u << r)))
				continue;
			fprintf(out, "%s\n      \"%u\": \"", first ? "" : ",", r);
			hex_fput(out, b->pcr[r], b->size);
			putc('"', out);
			first = false;
		}
		fputs(first ? "}" : "\n    }", out);
	}
	fputs(first_bank ? "}" : "\n  }", out);
}

static void print_json(FILE *out, const struct attest_eventlog *log, bool replay)
{
	fprintf(out, "{\n  \"format\": \"%s\",\n", log->crypto_agile ? "crypto-agile" : "sha1");
	if (log->has_startup_locality)
		fprintf(out, "  \"startup_locality\": %u,\n", log->startup_locality);
	fputs("  \"events\": [", out);
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		fprintf(out,
			"%s\n    {\"index\": %u, \"offset\": %zu, \"pcr\": %u, \"type\": %u, "
			"\"type_name\": ",
			e ? "," : "", ev->index, ev->offset, ev->pcr, ev->type);
		put_type(out, ev->type, true);
		fputs(", \"digests\": {", out);
		for (uint32_t d = 0; d < ev->ndigests; d++) {
			char b[8];
			fprintf(out, "%s\"%s\": \"", d ? ", " : "", alg_label(ev->digests[d].alg, b, sizeof(b)));
			hex_fput(out, ev->digests[d].d, ev->digests[d].size);
			putc('"', out);
		}
		fputs("}, \"data\": ", out);
		size_t n;
		if (data_text(ev, &n)) {
			json_put_string(out, (const char *)ev->data, n, true);
		} else {
			putc('"', out);
			hex_fput(out, ev->data, ev->data_len);
			putc('"', out);
		}
		putc('}', out);
	}
	fputs(log->nevents ? "\n  ]" : "]", out);
	if (replay) {
		struct attest_pcrs p = { 0 };
		attest_eventlog_replay(log, &p);
		print_pcrs_json(out, &p);
	}
	fputs("\n}\n", out);
}

/* The shape tpm2_eventlog prints: a YAML document with "events" and, after
 * a replay, "pcrs" keyed by bank then PCR. */
static void print_yaml(FILE *out, const struct attest_eventlog *log, bool replay)
{
	fputs("---\nversion: 1\nevents:\n", out);
	for (size_t e = 0; e < log->nevents; e++) {
		const struct attest_event *ev = &log->events[e];
		fprintf(out, "- EventNum: %u\n  PCRIndex: %u\n  EventType: ", ev->index, ev->pcr);
		put_type(out, ev->type, false);
		putc('\n', out);
		bool spec_id = e == 0 && log->crypto_agile;
		if (spec_id) {
			fputs("  Digest: \"", out);
			hex_fput(out, ev->digests[0].d, ev->digests[0].size);
			fputs("\"\n", out);
		} else {
			fprintf(out, "  DigestCount: %u\n  Digests:\n", ev->ndigests);
			for (uint32_t d = 0; d < ev->ndigests; d++) {
				char b[8];
				fprintf(out, "  - AlgorithmId: %s\n    Digest: \"",
					alg_label(ev->digests[d].alg, b, sizeof(b)));
				hex_fput(out, ev->digests[d].d, ev->digests[d].size);
				fputs("\"\n", out);
			}
		}
		fprintf(out, "  EventSize: %u\n", ev->data_len);
		if (spec_id) {
			fprintf(out, "  SpecID:\n  - Signature: %s\n    numberOfAlgorithms: %u\n"
				"    Algorithms:\n", SPEC_ID_SIG, log->nalgs);
			for (uint32_t a = 0; a < log->nalgs; a++) {
				char b[8];
				fprintf(out, "    - Algorithm[%u]:\n      algorithmId: %s\n"
					"      digestSize: %u\n", a,
					alg_label(log->algs[a].alg, b, sizeof(b)), log->algs[a].size);
			}
			continue;
		}
		size_t n;
		if (data_text(ev, &n)) {
			fputs("  Event:\n    String: ", out);
			json_put_string(out, (const char *)ev->data, n, true);
			putc('\n', out);
		} else if (ev->data_len) {
			fputs("  Event: \"", out);
			hex_fput(out, ev->data, ev->data_len);
			fputs("\"\n", out);
		}
	}
	if (replay) {
		struct attest_pcrs p = { 0 };
		attest_eventlog_replay(log, &p);
		fputs("pcrs:\n", out);
		for (size_t i = 0; i < p.nbanks; i++) {
			char b[8];
			fprintf(out, "  %s:\n", alg_label(p.bank[i].alg, b, sizeof(b)));
			for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++) {
				if (!(p.bank[i].set & (1u << r)))
					continue;
				fprintf(out, "    %-3u: 0x", r);
				hex_fput(out, p.bank[i].pcr[r], p.bank[i].size);
				putc('\n', out);
			}
		}
	}
}

int attest_eventlog_print(FILE *out, const struct attest_eventlog *log, bool replay,
			  enum attest_format fmt)
{
	switch (fmt) {
	case ATTEST_FMT_TEXT:
		print_text(out, log);
		if (replay) {
			struct attest_pcrs p = { 0 };
			attest_eventlog_replay(log, &p);
			for (size_t i = 0; i < p.nbanks; i++) {
				char b[8];
				for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++) {
					if (!(p.bank[i].set & (1u << r)))
						continue;
					fprintf(out, "%s:%u ", alg_label(p.bank[i].alg, b, sizeof(b)), r);
					hex_fput(out, p.bank[i].pcr[r], p.bank[i].size);
					putc('\n', out);
				}
			}
		}
		break;
	case ATTEST_FMT_JSON:
		print_json(out, log, replay);
		break;
	case ATTEST_FMT_YAML:
		print_yaml(out, log, replay);
		break;
	default:
		return -1;
	}
	return ferror(out) ? -1 : 0;
}
