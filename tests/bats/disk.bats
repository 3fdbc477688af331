#!/usr/bin/env bats
# moat pod disks: image disks verified by dm-verity, the ephemeral disk
# encrypted by dm-crypt in the guest, and pods that attack their disks.
# Real QEMU guests (TCG here) on a busybox image built with umoci.

load helper

# The hostile pod's DM_TABLE_STATUS client, to ask for its own key.
bb_extra() {
	mkdir -p data
	if command -v cc >/dev/null; then
		cc -static -O1 -o bin/dmtable "$BATS_TEST_DIRNAME/../fixtures/disk/dmtable.c"
	fi
}

setup_file() {
	guest_prereqs
	busybox_image sh echo cat cp ls dd sync sleep seq mount mknod mkdir grep wc df tr sort tail true
}

teardown_file() {
	local dir
	for dir in "${MOAT_STATE_DIR:-}" "$BATS_FILE_TMPDIR/bad" "$BATS_FILE_TMPDIR/old"; do
		[ -d "$dir/pods" ] || continue
		for p in "$dir"/pods/*; do
			[ -d "$p" ] && MOAT_STATE_DIR=$dir "$MOAT" pod rm -f "$(basename "$p")" >/dev/null 2>&1
		done
	done
	true
}

# pod NAME COMMAND [EXTRA container lines] [EXTRA spec lines]
pod() {
	cat <<-EOF
	apiVersion: v1
	kind: Pod
	metadata: {name: $1}
	spec:
	  restartPolicy: Never
	  containers:
	    - name: main
	      image: bb:latest
	      command: [sh, -c, '$2']
	$3
	$4
	EOF
}

verity() {
	"$MOAT" image inspect bb:latest | python3 -c "import json,sys; print(json.load(sys.stdin)['verity'][sys.argv[1]])" "$1"
}

# A copy of the store whose image disk has one bit flipped inside
# /bin/busybox's data; prints the 4 KiB block that holds it.
corrupt_copy() {
	rm -rf "$BATS_FILE_TMPDIR/bad"
	cp -a "$MOAT_STATE_DIR" "$BATS_FILE_TMPDIR/bad"
	rm -rf "$BATS_FILE_TMPDIR/bad/pods"
	local disk
	disk=$(ls "$BATS_FILE_TMPDIR"/bad/images/*/disk.erofs)
	python3 - "$disk" <<-'EOF'
	import sys
	needle = open("/bin/busybox", "rb").read()[400000:400064]
	with open(sys.argv[1], "r+b") as f:
	    disk = f.read()
	    at = disk.find(needle)
	    assert at > 0, "busybox's bytes are not in the disk"
	    f.seek(at + 32)
	    f.write(bytes([disk[at + 32] ^ 1]))
	print((at + 32) // 4096)
	EOF
}

@test "disk: moat's hash tree verifies with veritysetup, and fails it after a flipped bit" {
	command -v veritysetup >/dev/null || skip "veritysetup is not installed (apt-get install cryptsetup-bin)"
	local disk blocks offset salt root
	disk=$("$MOAT" image inspect bb:latest | python3 -c 'import json,sys; print(json.load(sys.stdin)["disk"])')
	blocks=$(verity dataBlocks) offset=$(verity hashOffset) salt=$(verity salt) root=$(verity rootHash)
	[ "$offset" = $((blocks * 4096)) ]
	[ "$(stat -c %s "$disk")" -gt "$offset" ]
	run -0 veritysetup verify --no-superblock --format 1 --hash sha256 --data-block-size 4096 \
		--hash-block-size 4096 --data-blocks "$blocks" --hash-offset "$offset" --salt "$salt" \
		"$disk" "$disk" "$root"
	run -0 "$MOAT" image inspect bb:latest --format text
	assert_line --regexp "^  verity +sha256, $blocks data blocks, tree at byte $offset$"
	assert_line --regexp "^  root hash +$root$"
	cp "$disk" copy.img
	printf '\x01' | dd of=copy.img bs=1 seek=5000 conv=notrunc 2>/dev/null
	run ! veritysetup verify --no-superblock --format 1 --hash sha256 --data-blocks "$blocks" \
		--hash-offset "$offset" --salt "$salt" copy.img copy.img "$root"
}

@test "disk: an image imported without a hash tree is refused, saying to re-import (exit 2)" {
	rm -rf "$BATS_FILE_TMPDIR/old"
	cp -a "$MOAT_STATE_DIR" "$BATS_FILE_TMPDIR/old"
	local meta
	meta=$(ls "$BATS_FILE_TMPDIR"/old/images/*/image.json)
	python3 - "$meta" <<-'EOF'
	import json, sys
	m = json.load(open(sys.argv[1])); del m["verity"]
	json.dump(m, open(sys.argv[1], "w"))
	EOF
	pod old true >old.yaml
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/old run -2 "$MOAT" pod run old.yaml
	assert_output --partial "old.yaml:8:14: spec.containers[0]: image bb:latest has no dm-verity hash tree"
	assert_output --partial "re-import it: moat image import SOURCE --name bb:latest"
	[ ! -e "$BATS_FILE_TMPDIR/old/pods/old" ]
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/old run -0 "$MOAT" image inspect bb:latest --format text
	assert_output --partial "none (imported by an older moat: re-import it)"
	# Importing the same image again builds the tree it lacked.
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/old run -0 "$MOAT" image import "$BATS_FILE_TMPDIR/img/oci" --name bb:latest
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/old run -0 "$MOAT" image inspect bb:latest --format text
	assert_line --regexp '^  root hash +[0-9a-f]{64}$'
	[ -z "$(ls -A "$BATS_FILE_TMPDIR/old/images" | grep -E '^\.(rm|import)-')" ]
}

@test "disk: a flipped bit in an image fails the pod with ImageIntegrity naming the block; a good copy runs" {
	local block
	block=$(corrupt_copy)
	pod bad 'echo should not run' >bad.yaml
	# Small images are read whole before any container starts.
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/bad run -3 "$MOAT" pod run bad.yaml --wait
	assert_output --partial "Failed: ImageIntegrity: image bb:latest: block $block of its disk failed verification"
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/bad run -0 "$MOAT" pod inspect bad
	assert_output --partial "\"reason\": \"ImageIntegrity: image bb:latest: block $block of its disk failed verification\""
	refute_output --partial '"state": "running"'
	# Not read ahead: the container's own read meets the bad block, and
	# the kernel's log names it.
	pod late 'cat /bin/busybox >/dev/null; sleep 600' >late.yaml
	MOAT_STATE_DIR=$BATS_FILE_TMPDIR/bad MOAT_VERITY_READ_ALL_MAX=0 run -3 "$MOAT" pod run late.yaml --wait
	assert_output --partial "Failed: ImageIntegrity: image bb:latest: block $block of its disk failed verification"
	# The store's own copy is intact: the same image runs.
	pod good 'cat /bin/busybox >/dev/null && echo all read' >good.yaml
	run -0 "$MOAT" pod run good.yaml --wait
	run -0 "$MOAT" pod logs good
	assert_output --partial "stdout F all read"
	[ "$(status good 'd["phase"]')" = Succeeded ]
}

@test "disk: what a pod writes is on its disk only as ciphertext; no key-like string in its state dir" {
	pod enc 'for i in $(seq 1 2000); do echo MOATMARKER-plaintext-$i; done >/data/m.txt; cp /data/m.txt /tmp/m.txt; cat /data/m.txt; sync; sleep 600' \
		'      volumeMounts: [{name: scratch, mountPath: /data}]' \
		'  volumes: [{name: scratch, emptyDir: {}}]' >enc.yaml
	run -0 "$MOAT" pod run enc.yaml
	# The container's view: the emptyDir, its own layer and its log.
	local n
	for _ in $(seq 1 100); do
		n=$("$MOAT" pod exec enc -- grep -c MOATMARKER /data/m.txt 2>/dev/null || true)
		[ "$n" = 2000 ] && break
		sleep 0.2
	done
	[ "$n" = 2000 ]
	run -0 "$MOAT" pod exec enc -- grep -c MOATMARKER /tmp/m.txt
	[ "$output" = 2000 ]
	run -0 "$MOAT" pod exec enc -- sync
	run -0 "$MOAT" pod logs enc
	[ "$(grep -c MOATMARKER <<<"$output")" = 2000 ]
	# The host's view: a copy of the disk file holds none of it.
	local dir=$MOAT_STATE_DIR/pods/enc
	cp --sparse=always "$dir/disk.img" disk-copy.img
	[ "$(stat -c %b disk-copy.img)" -gt 0 ]
	run grep -c MOATMARKER disk-copy.img
	[ "$output" = 0 ]
	run grep -ac plaintext disk-copy.img
	[ "$output" = 0 ]
	# No file in the state dir holds a 64-byte key as hex, and the host
	# made no file system: the disk's first blocks are not ext2's magic.
	run grep -rlE '[0-9a-fA-F]{128}' --exclude=disk.img --exclude='*.sock' "$dir"
	assert_output ''
	run python3 -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(1024+56); print(f.read(2).hex())' "$dir/disk.img"
	[ "$output" != 53ef ]
	"$MOAT" pod rm -f enc >/dev/null
}

@test "disk: a pod's mount, mknod and raw device reads fail; with CAP_SYS_ADMIN it sees only its own disks and no key" {
	local probe='mkdir -p /mnt; mount -t ext4 /dev/vdb /mnt && echo MOUNTED; mknod /tmp/vdb b 254 16 && echo MKNOD-OK; dd if=/tmp/vdb of=/dev/null bs=4k count=1 && echo READ-VDB; dd if=/dev/vda of=/dev/null bs=4k count=1 && echo READ-VDA; mknod /dev/ctl c 10 236; cat /dev/ctl && echo READ-CTL; ls /dev/mapper && echo MAPPER; ls /sys/block | sort | tr "\n" " "; echo; true'
	pod hostile "$probe" >hostile.yaml
	run -0 "$MOAT" pod run hostile.yaml --wait
	run -0 "$MOAT" pod logs hostile
	assert_output --partial "stderr F mount: permission denied"
	refute_output --partial MOUNTED
	# CAP_MKNOD is in the default set: the node is made, and opens nothing
	# (every mount a container can write to is nodev).
	assert_output --partial "stdout F MKNOD-OK"
	assert_output --partial "can't open '/tmp/vdb': Permission denied"
	refute_output --partial READ-VDB
	assert_output --partial "can't open '/dev/vda': No such file or directory"
	refute_output --partial READ-VDA
	refute_output --partial READ-CTL
	refute_output --partial "stdout F MAPPER"
	# CAP_SYS_ADMIN, admitted at the privileged level: the VM's block
	# devices still have no node, and its disks are only this pod's own.
	# It can mount a tmpfs of its own and reach /dev/mapper/control there;
	# the crypt table names a logon key, which nothing can read back.
	pod admin "$probe; mount -t tmpfs t /mnt && mknod /mnt/control c 10 236 && (dmtable /mnt/control moat-disk1 || echo NO-DMTABLE)" \
		'      securityContext: {capabilities: {add: [SYS_ADMIN]}}' >admin.yaml
	run -0 "$MOAT" pod run admin.yaml --wait --level privileged
	run -0 "$MOAT" pod logs admin
	refute_output --partial MOUNTED
	refute_output --partial READ-VDB
	refute_output --partial READ-VDA
	refute_output --partial READ-CTL
	assert_line --regexp "stdout F dm-0 dm-1 vda vdb ?$"
	if [ -x "$BATS_FILE_TMPDIR/img/bundle/rootfs/bin/dmtable" ]; then
		assert_line --regexp "stdout F crypt aes-xts-plain64 :64:logon:moat:moat-disk1 0 [0-9]+:[0-9]+ 0 2 no_read_workqueue no_write_workqueue$"
		refute_output --regexp '[0-9a-f]{64}'
	fi
}

@test "disk: a pod that fills its disk gets ENOSPC and fails as restartPolicy Never says; its neighbour and the next pod run; the host grew by at most the disk" {
	pod fill 'dd if=/dev/zero of=/data/fill bs=1M 2>&1; echo dd exit $?; df -k /data | tail -1; exit 1' \
		"      volumeMounts: [{name: scratch, mountPath: /data}]
      resources: {limits: {ephemeral-storage: 64Mi}}" \
		'  volumes: [{name: scratch, emptyDir: {}}]' >fill.yaml
	# A neighbour, running while the disk fills.
	pod neighbour 'sleep 600' >neighbour.yaml
	run -0 "$MOAT" pod run neighbour.yaml
	run -3 "$MOAT" pod run fill.yaml --wait
	run -0 "$MOAT" pod exec neighbour -- sh -c 'echo still-writable >/tmp/n && cat /tmp/n'
	assert_output still-writable
	[ "$(status neighbour 'd["phase"]')" = Running ]
	"$MOAT" pod rm -f neighbour >/dev/null
	run -0 "$MOAT" pod logs fill
	assert_output --partial "No space left on device"
	assert_output --partial "dd exit 1"
	[ "$(status fill 'd["phase"]')" = Failed ]
	[ "$(status fill 'd["containers"]["main"]["exitCode"]')" = 1 ]
	# The disk file is sparse and never grows past the pod's size.
	local dir=$MOAT_STATE_DIR/pods/fill
	[ "$(stat -c %s "$dir/disk.img")" = $((64 << 20)) ]
	[ "$(du -sk "$dir" | cut -f1)" -le $(((64 << 10) + 1024)) ]
	# A second pod, started after it, runs as usual.
	pod after 'echo after ok; df -k / | tail -1'  >after.yaml
	run -0 "$MOAT" pod run after.yaml --wait
	run -0 "$MOAT" pod logs after
	assert_output --partial "stdout F after ok"
}
