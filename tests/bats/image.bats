#!/usr/bin/env bats
# moat image: busybox images built with umoci and copied with skopeo into
# every source kind, crafted layers that try to leave the image, and the
# disks checked with the erofs and ext4 tools (and a read-only loop mount).

load helper

MK_IMAGE=$BATS_TEST_DIRNAME/mk-image

setup_file() {
	probe_python
	# One busybox image for the whole file: umoci builds it, the tests copy it.
	BASE=$BATS_FILE_TMPDIR/oci
	export BASE
	command -v umoci >/dev/null && [ -x /bin/busybox ] || return 0
	(
		set -e
		cd "$BATS_FILE_TMPDIR"
		umoci init --layout oci
		umoci new --image oci:bb
		umoci unpack --rootless --image oci:bb bundle
		mkdir -p bundle/rootfs/bin bundle/rootfs/etc
		cp /bin/busybox bundle/rootfs/bin/busybox
		ln -s busybox bundle/rootfs/bin/sh
		echo 'root:x:0:0:root:/root:/bin/sh' >bundle/rootfs/etc/passwd
		umoci repack --image oci:bb bundle
		umoci config --image oci:bb --config.entrypoint /bin/sh --config.cmd -c \
			--config.cmd 'echo hello' --config.env GREETING=hello --config.workingdir /tmp \
			--config.user 1000:1000
		rm -rf bundle
	) >"$BATS_FILE_TMPDIR/umoci.log" 2>&1 || rm -rf "$BASE"
}

setup() {
	common_setup
	STATE=$BATS_TEST_TMPDIR/state
}

need_base() {
	command -v umoci >/dev/null || skip "umoci is not installed (make deps)"
	[ -x /bin/busybox ] || skip "/bin/busybox is not installed (busybox-static)"
	[ -d "$BASE" ] || fail "umoci could not build the test image: $(cat "$BATS_FILE_TMPDIR/umoci.log")"
}

need_skopeo() {
	command -v skopeo >/dev/null || skip "skopeo is not installed (make deps)"
}

need_erofs() {
	command -v mkfs.erofs >/dev/null || skip "mkfs.erofs is not installed (erofs-utils)"
}

need_mk_image() {
	need_python
	need_erofs
}

# The store holds no image and no leftover of one.
assert_store_empty() {
	local left
	left=$(find "$STATE/images" -mindepth 1 ! -name .lock ! -name index.json 2>/dev/null)
	[ -z "$left" ] || fail "left in the store: $left"
	run -0 "$MOAT" image ls --state-dir "$STATE" --format json
	assert_output '[]'
}

# import_bad SOURCE: exit 2, the store untouched; the message is in $output.
import_bad() {
	run --separate-stderr "$MOAT" image import "$1" --state-dir "$STATE"
	stderr_as_output
	refute_crash
	[ "$status" = 2 ] || fail "exit $status, expected 2: $output"
	assert_store_empty
	run --separate-stderr "$MOAT" image import "$1" --state-dir "$STATE"
	stderr_as_output
}

disk_of() {
	"$MOAT" image inspect "$1" --state-dir "$STATE" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["disk"])'
}

@test "an OCI layout from umoci becomes an EROFS disk holding bin/busybox, with its config" {
	need_base
	need_erofs
	need_python
	run -0 --separate-stderr "$MOAT" image import "$BASE" --name busybox:oci --state-dir "$STATE"
	assert_output --regexp '^busybox:oci sha256:[0-9a-f]{12} erofs /.*/images/[0-9a-f]{64}/disk\.erofs \([0-9.]+ [KM]iB\)$'
	disk=$(disk_of busybox:oci)
	[[ $disk == "$STATE"/images/*/disk.erofs ]]
	[ "$(stat -c %a "$(dirname "$disk")")" = 700 ]
	run -0 blkid -o value -s TYPE "$disk"
	assert_output erofs
	if command -v fsck.erofs >/dev/null; then
		run -0 fsck.erofs "$disk"
	fi
	if command -v dump.erofs >/dev/null; then
		run -0 dump.erofs --path=/bin/busybox "$disk"
		assert_output --partial "Size: $(stat -c %s /bin/busybox) "
		assert_output --partial "regular file"
		run -0 dump.erofs --path=/bin/sh "$disk"
		assert_output --partial "symlink"
	fi
	run -0 "$MOAT" image inspect busybox:oci --state-dir "$STATE" --format json
	assert_output --partial '"fstype": "erofs"'
	run -0 python3 -c 'import json,sys
c = json.load(sys.stdin)["config"]
assert c == {"entrypoint": ["/bin/sh"], "cmd": ["-c", "echo hello"], "env": ["GREETING=hello"],
             "workingDir": "/tmp", "user": "1000:1000"}, c' <<<"$output"
	run -0 "$MOAT" image inspect busybox:oci --state-dir "$STATE" --format text
	assert_line '  entrypoint  /bin/sh'
	assert_line '  user        1000:1000'
}

@test "oci-archive, docker-archive and gzipped docker-archive from skopeo import; ls lists them" {
	need_base
	need_skopeo
	need_erofs
	need_python
	skopeo copy -q "oci:$BASE:bb" "oci-archive:bb-oci.tar:1.0"
	skopeo copy -q "oci:$BASE:bb" "docker-archive:bb-docker.tar:busybox:2"
	gzip -c bb-docker.tar >bb-docker.tar.gz
	run -0 "$MOAT" image import bb-oci.tar --state-dir "$STATE"
	assert_output --regexp '^bb-oci:1\.0 sha256:'
	run -0 "$MOAT" image import bb-docker.tar --state-dir "$STATE" --format json
	assert_output --partial '"name": "docker.io/library/busybox:2"'
	run -0 "$MOAT" image import bb-docker.tar.gz --name busybox:gz --state-dir "$STATE"
	# The layout itself, under its own name: the same manifest, the same disk.
	run -0 "$MOAT" image import "oci:$BASE:bb" --name busybox:oci --state-dir "$STATE"
	run -0 "$MOAT" image ls --state-dir "$STATE"
	assert_line --index 0 --regexp '^NAME +ID +FSTYPE +SIZE +IMPORTED'
	assert_line --regexp '^bb-oci:1\.0 +sha256:[0-9a-f]{12} erofs +[0-9.]+ MiB +[0-9-]+ [0-9:]+$'
	assert_line --regexp '^docker\.io/library/busybox:2 +sha256:[0-9a-f]{12} erofs '
	assert_line --regexp '^busybox:gz '
	[ "${#lines[@]}" = 5 ]
	run -0 "$MOAT" image ls --state-dir "$STATE" --format json
	run -0 python3 -c 'import json,sys
v = {i["name"]: i for i in json.load(sys.stdin)}
assert sorted(v) == ["bb-oci:1.0", "busybox:gz", "busybox:oci", "docker.io/library/busybox:2"], sorted(v)
assert v["bb-oci:1.0"]["id"] == v["busybox:oci"]["id"]
assert v["busybox:gz"]["id"] == v["docker.io/library/busybox:2"]["id"]
assert all(i["fstype"] == "erofs" and i["diskBytes"] > 1000000 and i["disk"].startswith("/") for i in v.values())' <<<"$output"
	# Two ids for four names: one directory per id.
	[ "$(find "$STATE/images" -mindepth 1 -maxdepth 1 -type d | wc -l)" = 2 ]
}

@test "an older docker save layout, <id>/layer.tar linked to another layer's, imports" {
	need_base
	need_skopeo
	need_erofs
	need_python
	skopeo copy -q "oci:$BASE:bb" "docker-archive:new.tar:busybox:old"
	mkdir old
	tar -C old -xf new.tar
	# Pre-25 docker save: Layers name "<id>/layer.tar", and a layer that
	# repeats one already written is a symlink to it: "../<id>/layer.tar".
	(cd old && python3 - <<-'EOF'
		import json, os
		m = json.load(open("manifest.json"))
		first = [d for d in os.listdir(".") if os.path.isdir(d)][0]
		os.mkdir("b" * 64)
		os.symlink("../" + first + "/layer.tar", "b" * 64 + "/layer.tar")
		m[0]["Layers"] = ["b" * 64 + "/layer.tar"]
		json.dump(m, open("manifest.json", "w"))
	EOF
	)
	tar -C old -cf old.tar .
	run -0 "$MOAT" image import old.tar --state-dir "$STATE"
	assert_output --regexp '^docker\.io/library/busybox:old sha256:'
	# A link that climbs out of the archive is refused.
	rm old/bbbb*/layer.tar
	ln -s ../../../etc/passwd old/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/layer.tar
	tar -C old -cf escape.tar .
	run -2 "$MOAT" image import escape.tar --state-dir "$STATE"
	assert_output --partial "escape.tar: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/layer.tar: layer 1: links to '../../../etc/passwd', outside the archive"
}

@test "the disk mounts read-only and busybox runs from it" {
	need_base
	need_erofs
	need_python
	[ "$(id -u)" = 0 ] || skip "loop mounts need root"
	grep -qw erofs /proc/filesystems || modprobe erofs 2>/dev/null || true
	grep -qw erofs /proc/filesystems || skip "this kernel has no erofs"
	run -0 "$MOAT" image import "$BASE" --name busybox:mnt --state-dir "$STATE"
	mkdir mnt
	mount -t erofs -o ro,loop "$(disk_of busybox:mnt)" mnt || skip "loop mount failed (no loop devices here?)"
	run mnt/bin/busybox echo from-the-disk
	ls_out=$(ls -ln mnt/bin mnt/etc)
	umount mnt
	assert_output from-the-disk
	[[ $ls_out == *" 0 0 "*busybox* ]]
}

@test "whiteouts: the upper layer deletes a file and makes a directory opaque" {
	need_mk_image
	command -v dump.erofs >/dev/null || skip "dump.erofs is not installed (erofs-utils)"
	"$MK_IMAGE" tar lower.tar dir:etc file:etc/a file:etc/b dir:d file:d/x dir:d/sub file:d/sub/q
	# The upper layer's own files in d survive its opaque marker, before and after it.
	"$MK_IMAGE" tar upper.tar file:etc/.wh.a file:d/z file:d/.wh..wh..opq dir:d/sub \
		file:d/sub/r file:.wh.never-there
	"$MK_IMAGE" layout layout --gzip lower.tar upper.tar
	run -0 "$MOAT" image import layout --name wh:1 --state-dir "$STATE"
	disk=$(disk_of wh:1)
	run -0 dump.erofs --ls --path=/etc "$disk"
	assert_line --regexp ' b$'
	refute_line --regexp ' a$'
	refute_line --partial '.wh.'
	run -0 dump.erofs --ls --path=/d "$disk"
	assert_line --regexp ' z$'
	assert_line --regexp ' sub$'
	refute_line --regexp ' x$'
	refute_line --partial '.wh.'
	run -0 dump.erofs --ls --path=/d/sub "$disk"
	assert_line --regexp ' r$'
	refute_line --regexp ' q$'
}

@test "a flipped byte in a layer blob is refused with exit 2, naming the blob; the store stays empty" {
	need_base
	need_erofs
	cp -r "$BASE" bad
	layer=$(find bad/blobs/sha256 -type f -size +500k | head -1)
	[ -n "$layer" ]
	# Flip one bit (writing a fixed byte could leave it as it was).
	python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(4096); b = f.read(1); f.seek(4096); f.write(bytes([b[0] ^ 1]))' "$layer"
	import_bad bad
	assert_output --regexp "^moat image: bad: blobs/sha256/${layer##*/}: layer 1: digest mismatch: expected sha256:${layer##*/}, content is sha256:[0-9a-f]{64}$"
	# In an archive too.
	need_skopeo
	skopeo copy -q "oci:$BASE:bb" "oci-archive:good.tar:1"
	python3 - <<-'EOF'
		import tarfile
		with tarfile.open("good.tar") as t:
		    big = max(t.getmembers(), key=lambda m: m.size)
		with open("good.tar", "r+b") as f:
		    f.seek(big.offset_data + 5000)
		    b = f.read(1)
		    f.seek(big.offset_data + 5000)
		    f.write(bytes([b[0] ^ 1]))
	EOF
	import_bad good.tar
	assert_output --regexp '^moat image: good\.tar: blobs/sha256/[0-9a-f]{64}: layer 1: digest mismatch'
}

@test "a config or manifest that does not match its digest, or is not JSON, is refused" {
	need_mk_image
	"$MK_IMAGE" tar l.tar dir:bin file:bin/x
	"$MK_IMAGE" layout good l.tar
	cp -r good badcfg
	cfg=$(python3 -c 'import json; m=json.load(open("good/blobs/sha256/"+json.load(open("good/index.json"))["manifests"][0]["digest"][7:])); print(m["config"]["digest"][7:])')
	sed -i 's/PATH=/PATX=/' "badcfg/blobs/sha256/$cfg"
	import_bad badcfg
	assert_output --regexp "^moat image: badcfg: blobs/sha256/$cfg: digest mismatch"
	cp -r good badindex
	echo '{"schemaVersion": 2, "manifests": [' >badindex/index.json
	import_bad badindex
	assert_output --regexp '^moat image: badindex: index\.json:2:[0-9]+: '
}

@test "a layer entry with '..' is refused, naming it; an absolute one lands inside" {
	need_mk_image
	"$MK_IMAGE" tar evil.tar dir:etc "file:../../../tmp/moat-escape-$$"
	"$MK_IMAGE" layout layout evil.tar
	import_bad layout
	assert_output --regexp "^moat image: layout: blobs/sha256/[0-9a-f]{64}: layer 1: entry '\.\./\.\./\.\./tmp/moat-escape-$$': path escapes the image root$"
	[ ! -e "/tmp/moat-escape-$$" ]
	"$MK_IMAGE" tar abs.tar "file:/abs/file"
	"$MK_IMAGE" layout abslayout abs.tar
	run -0 "$MOAT" image import abslayout --name abs:1 --state-dir "$STATE"
	if command -v dump.erofs >/dev/null; then
		run -0 dump.erofs --path=/abs/file "$(disk_of abs:1)"
	fi
}

@test "device nodes are refused; the message says which" {
	need_mk_image
	"$MK_IMAGE" tar dev.tar dir:dev char:dev/mem
	"$MK_IMAGE" layout layout --gzip dev.tar
	import_bad layout
	assert_output --regexp "layer 1: entry 'dev/mem': character device node 1:3 is not allowed in an image"
	"$MK_IMAGE" tar blk.tar block:sda
	"$MK_IMAGE" layout blk blk.tar
	import_bad blk
	assert_output --partial "entry 'sda': block device node 8:0 is not allowed"
}

@test "hard links out of the image, or to nothing in it, are refused" {
	need_mk_image
	"$MK_IMAGE" tar out.tar "hardlink:shadow:../../../etc/shadow"
	"$MK_IMAGE" layout out out.tar
	import_bad out
	assert_output --partial "layer 1: entry 'shadow': hard link target '../../../etc/shadow': path escapes the image root"
	"$MK_IMAGE" tar abs.tar "hardlink:shadow:/etc/shadow"
	"$MK_IMAGE" layout abs abs.tar
	import_bad abs
	assert_output --partial "entry 'shadow': hard link target '/etc/shadow' is not in the image"
	# Within the image, a hard link is fine.
	"$MK_IMAGE" tar ok.tar dir:bin file:bin/a hardlink:bin/b:bin/a
	"$MK_IMAGE" layout ok ok.tar
	run -0 "$MOAT" image import ok --name hl:1 --state-dir "$STATE"
}

@test "symlinks are kept but never followed out of the image while unpacking" {
	need_mk_image
	command -v dump.erofs >/dev/null || skip "dump.erofs is not installed (erofs-utils)"
	name=moat-symlink-test-$$
	"$MK_IMAGE" tar links.tar dir:tmp "symlink:host-tmp:/tmp" "symlink:up:../../../../../tmp" \
		"file:host-tmp/$name-a" "file:up/$name-b" "symlink:dangling:/nowhere/at/all"
	"$MK_IMAGE" layout layout links.tar
	run -0 "$MOAT" image import layout --name links:1 --state-dir "$STATE"
	[ ! -e "/tmp/$name-a" ] && [ ! -e "/tmp/$name-b" ]
	disk=$(disk_of links:1)
	run -0 dump.erofs --ls --path=/tmp "$disk"
	assert_line --regexp " $name-a$"
	assert_line --regexp " $name-b$"
	run -0 dump.erofs --path=/up "$disk"
	assert_output --partial symlink
}

@test "re-importing a name moves its tag; rm removes tags, and the disk with the last one" {
	need_mk_image
	"$MK_IMAGE" tar one.tar file:one
	"$MK_IMAGE" tar two.tar file:two
	"$MK_IMAGE" layout one one.tar
	"$MK_IMAGE" layout two two.tar
	run -0 "$MOAT" image import one --name app --state-dir "$STATE"
	first=$(disk_of app:latest)
	run -0 "$MOAT" image import one --name keep:1 --state-dir "$STATE"
	run -0 "$MOAT" image import two --name app:latest --state-dir "$STATE"
	second=$(disk_of app)
	[ "$first" != "$second" ] && [ -f "$first" ] && [ -f "$second" ]
	run -0 "$MOAT" image rm app --state-dir "$STATE"
	[ ! -e "$second" ] && [ -f "$first" ]
	run -0 "$MOAT" image ls --state-dir "$STATE"
	assert_line --regexp '^keep:1 '
	refute_line --regexp '^app:'
	run -2 --separate-stderr "$MOAT" image rm app --state-dir "$STATE"
	stderr_as_output
	assert_output "moat image: rm app: no image 'app'"
	# By id prefix: every tag of it.
	id=$("$MOAT" image inspect keep:1 --state-dir "$STATE" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"][7:19])')
	run -0 "$MOAT" image rm "$id" --state-dir "$STATE"
	[ ! -e "$first" ]
	assert_store_empty
}

@test "--fstype ext4 makes an ext4 disk that e2fsck accepts" {
	need_base
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed (e2fsprogs)"
	need_python
	run -0 "$MOAT" image import "$BASE" --name busybox:ext4 --fstype ext4 --state-dir "$STATE"
	assert_output --regexp ' ext4 /.*/disk\.ext4 '
	disk=$(disk_of busybox:ext4)
	run -0 blkid -o value -s TYPE "$disk"
	assert_output ext4
	run -0 e2fsck -fn "$disk"
	if command -v debugfs >/dev/null; then
		run -0 debugfs -R 'stat /bin/busybox' "$disk"
		assert_output --partial "Size: $(stat -c %s /bin/busybox)"
	fi
}

@test "usage: help, unknown subcommands and options, missing sources and names" {
	run -0 "$MOAT" image --help
	assert_output --partial 'Usage: moat image import SOURCE'
	for sub in import ls rm inspect; do
		run -0 "$MOAT" image "$sub" --help
		assert_output --partial 'Exit status: 0 done, 2 bad'
	done
	run -2 "$MOAT" image
	run -2 "$MOAT" image frobnicate
	assert_output --partial "unknown subcommand 'frobnicate'"
	run -2 "$MOAT" image import
	assert_output --partial 'import: no SOURCE given'
	run -2 "$MOAT" image ls --name x
	assert_output --partial 'ls does not take --name'
	run -2 "$MOAT" image import x --fstype xfs
	assert_output --partial '--fstype xfs: expected auto, erofs or ext4'
	run -2 "$MOAT" image import x --bogus
	assert_output --partial "option '--bogus' is unknown"
	run -2 "$MOAT" image import no-such-image.tar --state-dir "$STATE"
	assert_output 'moat image: no-such-image.tar: No such file or directory'
	run -2 "$MOAT" image import . --name 'Bad Name' --state-dir "$STATE"
	assert_output --partial "character ' ' is not allowed"
	run -2 "$MOAT" image inspect nothing --state-dir "$STATE"
	assert_output --partial "no image 'nothing'"
	run -0 "$MOAT" image ls --state-dir "$STATE" --format json
	assert_output '[]'
	echo junk >junk.tar
	run -2 "$MOAT" image import junk.tar --state-dir "$STATE"
	assert_output --partial 'junk.tar: '
	refute_crash
}
