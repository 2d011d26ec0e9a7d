package dev.braid.stress.link;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The namespace form of the link emulator: the endpoints' own TCP sees the delay. Inside a private network
 * namespace ({@link PrivateNetns}) it creates two TUN devices, {@code bwan0} with {@link #CLIENT} (10.201.0.1)
 * and {@code bwan1} with {@link #SERVER} (10.201.0.2), and makes the kernel send traffic between the two
 * addresses out through the devices instead of delivering it locally:
 * <pre>
 *   ip rule: pref 10  from local sockets to 10.201.0.2 -> table 102: default dev bwan0
 *            pref 11  from local sockets to 10.201.0.1 -> table 101: default dev bwan1
 *            pref 100 the local table (moved from pref 0, so the two rules above come first)
 *   rp_filter 0, accept_local 1 (packets arrive with a source address that is local)
 *
 *   client socket -> bwan0 -> [this JVM: DelayLine to the server] -> bwan1 -> server socket
 *   server socket -> bwan1 -> [this JVM: DelayLine to the client] -> bwan0 -> client socket
 * </pre>
 * Each direction is a reader thread (poll, read a packet, offer it to the line: tail drop when the
 * bottleneck queue is full) and a writer thread (write each packet into the other device when due). Jitter
 * never reorders. Stall and blackhole ({@link #control()}) work on packets: a stall holds them (dropping
 * what exceeds the buffer), a blackhole drops them; the endpoints' TCP retransmits as over a real link. The
 * relay-only faults (reset mid-frame, half-close, one-byte segments) do not exist here.
 *
 * <p>The devices' MTU is a parameter (default 9000, jumbo frames: at 125 MB/s that is about 14,000 packets a
 * second each way through this JVM; 1500 costs six times as many). Threads: four platform daemon threads
 * {@code link-tun-*}; every public method may be called from any thread.
 */
public final class TunLink implements AutoCloseable {
    public static final InetAddress CLIENT = address(10, 201, 0, 1);
    public static final InetAddress SERVER = address(10, 201, 0, 2);
    public static final int DEFAULT_MTU = 9000;
    private static final String DEV_CLIENT = "bwan0";
    private static final String DEV_SERVER = "bwan1";

    private final LinkSpec spec;
    private final LinkControl control;
    private final Tun clientSide;
    private final Tun serverSide;
    private final DelayLine toServer;
    private final DelayLine toClient;
    private final List<Thread> threads;
    private volatile boolean closed;

    private TunLink(final LinkSpec spec, final int mtu, final Tun clientSide, final Tun serverSide) {
        this.spec = spec;
        this.control = new LinkControl(spec.bytesPerSecond());
        this.clientSide = clientSide;
        this.serverSide = serverSide;
        this.toServer = new DelayLine(spec, control, mtu);
        this.toClient = new DelayLine(spec, control, mtu);
        threads = List.of(
                Thread.ofPlatform().daemon().name("link-tun-up-in").unstarted(() -> readLoop(clientSide, toServer)),
                Thread.ofPlatform().daemon().name("link-tun-up-out").unstarted(() -> writeLoop(toServer, serverSide)),
                Thread.ofPlatform().daemon().name("link-tun-down-in").unstarted(() -> readLoop(serverSide, toClient)),
                Thread.ofPlatform().daemon().name("link-tun-down-out").unstarted(() -> writeLoop(toClient, clientSide)));
        threads.forEach(Thread::start);
    }

    /** Null if the namespace form can run in this process, else why not. */
    public static String unavailabilityCause() {
        final String c = Tun.unavailabilityCause();
        if (c != null) {
            return c;
        }
        if (!PrivateNetns.isPrivate()) {
            return "this process is in init's network namespace (the namespace form runs in a JVM started "
                    + "through PrivateNetns.relaunch)";
        }
        return PrivateNetns.which("ip") == null ? "iproute2's 'ip' is not on PATH" : null;
    }

    /**
     * Creates the devices, addresses and rules (see the class comment) and starts forwarding. Only in a
     * private network namespace; one link per namespace at a time.
     */
    public static TunLink create(final LinkSpec spec, final int mtu) throws IOException {
        final String cause = unavailabilityCause();
        if (cause != null) {
            throw new IOException("namespace link unavailable: " + cause);
        }
        final Tun a = Tun.open(DEV_CLIENT);
        Tun b = null;
        try {
            b = Tun.open(DEV_SERVER);
            configure(mtu);
            return new TunLink(spec, mtu, a, b);
        } catch (IOException | RuntimeException e) {
            a.close();
            if (b != null) {
                b.close();
            }
            throw e;
        }
    }

    private static void configure(final int mtu) throws IOException {
        PrivateNetns.requirePrivate();
        final String ip = PrivateNetns.which("ip");
        PrivateNetns.run(ip, "link", "set", "lo", "up");
        PrivateNetns.run(ip, "addr", "add", CLIENT.getHostAddress() + "/32", "dev", DEV_CLIENT);
        PrivateNetns.run(ip, "addr", "add", SERVER.getHostAddress() + "/32", "dev", DEV_SERVER);
        for (String dev : List.of(DEV_CLIENT, DEV_SERVER)) {
            PrivateNetns.run(ip, "link", "set", dev, "mtu", Integer.toString(mtu), "up");
        }
        for (String dev : List.of("all", "default", DEV_CLIENT, DEV_SERVER)) {
            Files.writeString(Path.of("/proc/sys/net/ipv4/conf", dev, "rp_filter"), "0");
            Files.writeString(Path.of("/proc/sys/net/ipv4/conf", dev, "accept_local"), "1");
        }
        final String rules = PrivateNetns.run(ip, "rule", "show");
        if (!rules.contains("100:")) {
            PrivateNetns.run(ip, "rule", "add", "pref", "100", "lookup", "local");
            PrivateNetns.run(ip, "rule", "del", "pref", "0");
        }
        PrivateNetns.run(ip, "rule", "add", "pref", "10", "iif", "lo", "to", SERVER.getHostAddress(), "lookup", "102");
        PrivateNetns.run(ip, "route", "add", "default", "dev", DEV_CLIENT, "table", "102");
        PrivateNetns.run(ip, "rule", "add", "pref", "11", "iif", "lo", "to", CLIENT.getHostAddress(), "lookup", "101");
        PrivateNetns.run(ip, "route", "add", "default", "dev", DEV_SERVER, "table", "101");
    }

    public LinkSpec spec() {
        return spec;
    }

    /**
     * Packets the kernel dropped on the two devices so far (their TX and RX "dropped" counters, from
     * {@code ip -s link}): a delay line that did not read its device in time (a full TUN queue) loses packets
     * the link itself never saw.
     */
    public long kernelDrops() {
        long sum = 0;
        try {
            final String ip = PrivateNetns.which("ip");
            for (String dev : List.of(DEV_CLIENT, DEV_SERVER)) {
                final String[] lines = PrivateNetns.run(ip, "-s", "link", "show", "dev", dev).split("\n");
                for (int i = 0; i + 1 < lines.length; i++) {
                    final String l = lines[i].trim();
                    if (l.startsWith("RX:") || l.startsWith("TX:")) {
                        final String[] f = lines[i + 1].trim().split("\\s+");
                        if (f.length > 3) {
                            sum += Long.parseLong(f[3]); // bytes packets errors dropped ...
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return sum;
    }

    public LinkControl control() {
        return control;
    }

    /** The direction from {@link #CLIENT} to {@link #SERVER} (true) or back. */
    public DelayLine line(final boolean toServerSide) {
        return toServerSide ? toServer : toClient;
    }

    private void readLoop(final Tun from, final DelayLine line) {
        try {
            while (!closed) {
                if (!from.awaitReadable(50)) {
                    continue;
                }
                while (!closed) {
                    final byte[] p = line.buffer();
                    final int n = from.read(p);
                    if (n < 0) {
                        line.recycle(p); // nothing waiting
                        break;
                    }
                    line.offer(p, n, true);
                }
            }
        } catch (IOException e) {
            if (!closed) {
                System.err.println("link-tun: reading " + from.name() + " failed: " + e);
            }
        }
    }

    private void writeLoop(final DelayLine line, final Tun to) {
        try {
            DelayLine.Item item;
            while ((item = line.take()) != null) {
                if (item.end()) {
                    continue;
                }
                if (to.write(item.data(), item.length())) {
                    line.delivered(item);
                } else {
                    line.lost(item);
                }
            }
        } catch (IOException e) {
            if (!closed) {
                System.err.println("link-tun: writing " + to.name() + " failed: " + e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops forwarding and closes both devices (they vanish with their last descriptor). */
    @Override
    public void close() {
        closed = true;
        toServer.close();
        toClient.close();
        for (Thread t : threads) {
            try {
                t.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        clientSide.close();
        serverSide.close();
        try {
            // the routes went with the devices; take the rules out so a later link starts clean
            final String ip = PrivateNetns.which("ip");
            PrivateNetns.run(ip, "rule", "del", "pref", "10");
            PrivateNetns.run(ip, "rule", "del", "pref", "11");
        } catch (IOException e) {
            // the namespace goes away with the process anyway
        }
    }

    private static InetAddress address(final int a, final int b, final int c, final int d) {
        try {
            return InetAddress.getByAddress(new byte[]{(byte) a, (byte) b, (byte) c, (byte) d});
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
