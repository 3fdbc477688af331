#!/usr/bin/env bash
# TCP and UDP throughput through a veth into a namespace of its own, with
# moat's management-NIC filter against nftables holding the same 1,000 rules
# (one per port and source prefix, the allowed flow's rule last), and with no
# filter at all, in the same run.  iperf3 sends; the receiver's rate counts.
# Run as root; nothing outside the script's own namespaces is touched.
set -eu
cd "$(dirname "$0")/../.."
moat=${MOAT_BUILD:-build}/moat
rules=${RULES:-1000} secs=${SECS:-3}
for t in ip nsenter iperf3 nft python3; do
	command -v $t >/dev/null || { echo "perf/enforcer-veth: skipped: $t is not installed (make deps)"; exit 0; }
done
[ "$(id -u)" = 0 ] || { echo "perf/enforcer-veth: skipped: needs root"; exit 0; }
[ -x "$moat" ] || { echo "perf/enforcer-veth: build first"; exit 2; }

H=moat-ph-$$ P=moat-pp-$$ tmp=$(mktemp -d)
cleanup() {
	nsenter --net=/run/netns/$H "$moat" enforce remove --pin-dir "$tmp/bpf/moat" >/dev/null 2>&1 || true
	umount "$tmp/bpf" 2>/dev/null || true
	ip netns del $H 2>/dev/null || true
	ip netns del $P 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add $H
ip netns add $P
ip link add vh netns $H type veth peer name vp netns $P
ip -n $H addr add 10.77.0.1/24 dev vh
ip -n $P addr add 10.77.0.2/24 dev vp
for n in $H $P; do ip -n $n link set lo up; done
ip -n $H link set vh up
ip -n $P link set vp up
mkdir "$tmp/bpf"
mount -t bpf bpf "$tmp/bpf"

# The same rules twice: a NodePolicy, and an nftables input chain.
{
	printf 'apiVersion: moat/v1\nkind: NodePolicy\nmetadata: {name: perf}\nspec:\n'
	printf '  management:\n    interface: vh\n    default: deny\n    icmp: [echo-request]\n    ingress:\n'
	for i in $(seq 1 $((rules - 2))); do
		printf '      - {name: r%d, protocol: tcp, ports: [%d], from: [10.%d.%d.0/24]}\n' \
			$i $((10000 + i)) $((i / 250 + 1)) $((i % 250))
	done
	printf '      - {name: iperf, protocol: tcp, ports: [5201], from: [10.77.0.0/24]}\n'
	printf '      - {name: iperf-udp, protocol: udp, ports: [5201], from: [10.77.0.0/24]}\n'
} >"$tmp/policy.yaml"
{
	printf 'table inet moatperf {\n  chain input {\n    type filter hook input priority 0; policy drop;\n'
	printf '    iif "lo" accept\n    icmp type echo-request accept\n'
	printf '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept\n'
	printf '    arp operation request accept\n' >/dev/null
	for i in $(seq 1 $((rules - 2))); do
		printf '    ip saddr 10.%d.%d.0/24 tcp dport %d accept\n' $((i / 250 + 1)) $((i % 250)) $((10000 + i))
	done
	printf '    ip saddr 10.77.0.0/24 tcp dport 5201 accept\n'
	printf '    ip saddr 10.77.0.0/24 udp dport 5201 accept\n  }\n}\n'
} >"$tmp/rules.nft"

# run_iperf tcp|udp: the rate the receiver saw, in Gbit/s.
run_iperf() {
	nsenter --net=/run/netns/$H iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	local srv=$! extra=
	sleep 0.3
	[ "$1" = udp ] && extra="-u -b 0 -l 64"
	nsenter --net=/run/netns/$P iperf3 -c 10.77.0.1 -p 5201 -t "$secs" -J $extra >"$tmp/out.json" || true
	wait $srv 2>/dev/null || true
	python3 - "$tmp/out.json" "$1" <<-'EOF'
	import json, sys
	d = json.load(open(sys.argv[1]))
	end = d.get("end", {})
	if sys.argv[2] == "tcp":
	    bps = end["sum_received"]["bits_per_second"]
	else:
	    s = end["sum"]
	    bps = s["bits_per_second"] * (1 - s.get("lost_percent", 0) / 100)
	print("%.3f" % (bps / 1e9))
	EOF
}

declare -A r
for proto in tcp udp; do
	r[none-$proto]=$(run_iperf $proto)
done
nsenter --net=/run/netns/$H nft -f "$tmp/rules.nft"
for proto in tcp udp; do
	r[nft-$proto]=$(run_iperf $proto)
done
nsenter --net=/run/netns/$H nft delete table inet moatperf
for mode in native generic tc; do
	nsenter --net=/run/netns/$H "$moat" enforce apply -f "$tmp/policy.yaml" --pin-dir "$tmp/bpf/moat" \
		--mode $mode >/dev/null 2>&1
	for proto in tcp udp; do
		r[$mode-$proto]=$(run_iperf $proto)
	done
	nsenter --net=/run/netns/$H "$moat" enforce remove --pin-dir "$tmp/bpf/moat" >/dev/null 2>&1
done

echo "perf/enforcer-veth: iperf3 through a veth, $rules rules, ${secs}s each (Gbit/s received)"
printf '  %-28s %10s %16s\n' "" "TCP" "UDP (64 B)"
for k in none nft native generic tc; do
	case $k in
	none) label="no filter" ;;
	nft) label="nftables, $rules rules" ;;
	*) label="moat ($k), $rules rules" ;;
	esac
	printf '  %-28s %10s %16s\n' "$label" "${r[$k-tcp]}" "${r[$k-udp]}"
done
for k in native generic tc; do
	awk -v m="${r[$k-tcp]}" -v n="${r[nft-tcp]}" -v mu="${r[$k-udp]}" -v nu="${r[nft-udp]}" -v k=$k \
		'BEGIN { printf "  moat (%s) / nftables:        TCP %.2fx   UDP %.2fx\n", k, m / n, mu / nu }'
done
