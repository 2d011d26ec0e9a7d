package dev.braid.stress;

import dev.braid.stress.link.DelayLine;
import dev.braid.stress.link.LinkControl;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.RelayConnection;
import dev.braid.stress.link.TcpRelay;
import dev.braid.stress.link.TunLink;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * One emulated link as the {@code wan} scenario uses it, in either form: servers bind to {@link #bindAddress()},
 * clients connect to {@link #front(InetSocketAddress)} of a server's address, faults go to {@link #controls()}.
 *
 * <ul>
 *   <li>{@code relay}: every server gets a {@link TcpRelay} of its own (so every connection a link of its own,
 *   at the full rate); servers bind on loopback.</li>
 *   <li>{@code ns}: one {@link TunLink} for everything; servers bind on {@link TunLink#SERVER} and clients
 *   connect to it directly (their source address is {@link TunLink#CLIENT}). Connections share the rate.</li>
 * </ul>
 * One thread (the scenario's).
 */
final class WanLink implements AutoCloseable {
    private final String form;
    private final String label;
    private final LinkSpec spec;
    private final TunLink tun;
    private final List<TcpRelay> relays = new ArrayList<>();

    private WanLink(final String form, final String label, final LinkSpec spec, final TunLink tun) {
        this.form = form;
        this.label = label;
        this.spec = spec;
        this.tun = tun;
    }

    static WanLink relay(final LinkSpec spec) {
        return new WanLink("relay", "relay", spec, null);
    }

    /** @param congestion the endpoints' TCP congestion control, for the label ("ns bbr"); null: not said */
    static WanLink namespace(final LinkSpec spec, final int mtu, final String congestion) throws IOException {
        return new WanLink("ns", congestion == null ? "ns" : "ns " + congestion, spec, TunLink.create(spec, mtu));
    }

    /** "relay" or "ns". */
    String form() {
        return form;
    }

    /** The form, and in the namespace form the endpoints' congestion control ("ns reno"): rows and lines say it. */
    String label() {
        return label;
    }

    LinkSpec spec() {
        return spec;
    }

    InetSocketAddress bindAddress() {
        return new InetSocketAddress(tun != null ? TunLink.SERVER : InetAddress.getLoopbackAddress(), 0);
    }

    /** Where a client connects to reach {@code server} through the link. */
    InetSocketAddress front(final InetSocketAddress server) throws IOException {
        if (tun != null) {
            return server;
        }
        final TcpRelay r = TcpRelay.start(server, spec);
        relays.add(r);
        return r.address();
    }

    /** The fault switches of every link made so far (one for ns; one per relay). */
    List<LinkControl> controls() {
        if (tun != null) {
            return List.of(tun.control());
        }
        return relays.stream().map(TcpRelay::control).toList();
    }

    /** The relay made last (relay form), for per-connection faults. */
    TcpRelay lastRelay() {
        if (relays.isEmpty()) {
            throw new IllegalStateException("no relay (form " + form + ")");
        }
        return relays.get(relays.size() - 1);
    }

    /** Most bytes the link held in one direction at once, over all its lines so far. */
    long peakHeld() {
        long peak = 0;
        for (DelayLine l : lines()) {
            peak = Math.max(peak, l.peakHeldBytes());
        }
        return peak;
    }

    /** The TCP counters of interest in this network namespace ({@code /proc/self/net/snmp} and {@code netstat}). */
    static java.util.Map<String, Long> tcpCounters() {
        final java.util.Map<String, Long> m = new java.util.TreeMap<>();
        final java.util.Set<String> keys = java.util.Set.of("RetransSegs", "TCPTimeouts", "TCPLossProbes",
                "TCPSpuriousRTOs", "PruneCalled", "TCPRcvQDrop", "TCPZeroWindowDrop", "TCPOFODrop", "TCPRcvCollapsed",
                "TCPFastRetrans", "TCPSlowStartRetrans", "TCPLostRetransmit", "TCPToZeroWindowAdv", "TCPFromZeroWindowAdv",
                "TCPWantZeroWindowAdv", "TCPBacklogDrop", "TCPMemoryPressures", "TCPDSACKRecv");
        for (String f : java.util.List.of("/proc/self/net/snmp", "/proc/self/net/netstat")) {
            try {
                final java.util.List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of(f));
                for (int i = 0; i + 1 < lines.size(); i += 2) {
                    final String[] k = lines.get(i).split("\\s+");
                    final String[] v = lines.get(i + 1).split("\\s+");
                    for (int j = 1; j < Math.min(k.length, v.length); j++) {
                        if (keys.contains(k[j])) {
                            m.put(k[j], Long.parseLong(v[j]));
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // not on this system
            }
        }
        return m;
    }

    /** Packets the kernel dropped on the namespace form's devices so far (-1: not known; 0 for the relay). */
    long kernelDrops() {
        return tun == null ? 0 : tun.kernelDrops();
    }

    /** Bytes the link dropped so far (tail drop, blackhole), both ways, over all its lines. */
    long dropped() {
        long n = 0;
        for (DelayLine l : lines()) {
            n += l.bytesDropped();
        }
        return n;
    }

    /** The largest cap of the link's lines (what any one of them may hold). */
    long capBytes() {
        long n = 0;
        for (DelayLine l : lines()) {
            n = Math.max(n, l.capBytes());
        }
        return n;
    }

    private List<DelayLine> lines() {
        final List<DelayLine> all = new ArrayList<>();
        if (tun != null) {
            all.add(tun.line(true));
            all.add(tun.line(false));
        }
        for (TcpRelay r : relays) {
            for (RelayConnection c : r.connections()) {
                for (RelayConnection.Direction d : RelayConnection.Direction.values()) {
                    all.add(c.line(d));
                }
            }
        }
        return all;
    }

    /** Closes the relays made so far (not the namespace link). */
    void closeRelays() {
        for (TcpRelay r : relays) {
            r.close();
        }
        relays.clear();
    }

    @Override
    public void close() {
        closeRelays();
        if (tun != null) {
            tun.close();
        }
    }
}
