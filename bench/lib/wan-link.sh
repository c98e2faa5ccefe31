# Sourced by bench/wan.sh: the emulated WAN's network part, made and removed by this run.
#   wan_link_up    two network namespaces joined by a veth pair, 10.200.0.1/30 (A, the sending
#                  site) and 10.200.0.2/30 (B, the receiving site), nothing else: no route out,
#                  no address outside them. Each end: tbf at BENCH_WAN_MBIT, and iptables in its
#                  namespace dropping BENCH_WAN_LOSS of the packets arriving on it (random), after
#                  a rule with no target that counts them all. Segmentation offloads are off
#                  (gso_max_segs 1), so a packet is one MTU-sized frame, as on a real link, and
#                  both the rate and the loss apply per frame.
#   wan_link_down  stops whatever still runs in the two namespaces, then deletes them (their
#                  iptables rules go with them). Safe to call more than once.
# The 25 ms each way is not made here: the kernel has no netem; see lib/wan-relay.ts.
WAN_NS_A="ingot-wan-$$-a"
WAN_NS_B="ingot-wan-$$-b"
WAN_DEV_A="iw$$a"
WAN_DEV_B="iw$$b"
WAN_ADDR_A=10.200.0.1
WAN_ADDR_B=10.200.0.2

wan_link_up() {
  local mbit="$1" loss="$2"
  ip netns add "$WAN_NS_A"
  ip netns add "$WAN_NS_B"
  ip link add "$WAN_DEV_A" netns "$WAN_NS_A" type veth peer name "$WAN_DEV_B" netns "$WAN_NS_B"
  local side ns dev addr
  for side in A B; do
    if [[ $side == A ]]; then ns=$WAN_NS_A dev=$WAN_DEV_A addr=$WAN_ADDR_A; else ns=$WAN_NS_B dev=$WAN_DEV_B addr=$WAN_ADDR_B; fi
    ip -n "$ns" link set lo up
    ip -n "$ns" link set dev "$dev" gso_max_segs 1
    ip -n "$ns" addr add "$addr/30" dev "$dev"
    ip -n "$ns" link set "$dev" up
    tc -n "$ns" qdisc add dev "$dev" root tbf rate "${mbit}mbit" burst 64kb latency 50ms
    ip netns exec "$ns" iptables -w 5 -A INPUT -i "$dev"
    ip netns exec "$ns" iptables -w 5 -A INPUT -i "$dev" -m statistic --mode random --probability "$loss" -j DROP
  done
  export BENCH_WAN_NS_A=$WAN_NS_A BENCH_WAN_NS_B=$WAN_NS_B BENCH_WAN_ADDR_A=$WAN_ADDR_A BENCH_WAN_ADDR_B=$WAN_ADDR_B
}

wan_link_down() {
  local ns pid
  for ns in "$WAN_NS_A" "$WAN_NS_B"; do
    [[ -e "/run/netns/$ns" ]] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]] && break
      sleep 0.5
    done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
