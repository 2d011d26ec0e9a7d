package dev.braid.internal.backend;

import dev.braid.spi.SystemProperties;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Array;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code TCP_NOTSENT_LOWAT} for a {@link SocketChannel}, which java.nio has no option for: the bytes a
 * socket may hold not yet sent before a write stops taking more (the rest stays in braid's queues, where a
 * call can still pass it). On a long link whose congestion control holds its window down for a while (BBR's
 * PROBE_RTT: 4 packets per round trip for 200 ms every 10 s), every byte waiting unsent in the kernel is
 * ahead of the next call's reply; the epoll backend sets it through Netty, the nio and loom backends through
 * this class.
 *
 * <h2>How</h2>
 * java.nio gives no file descriptor, so this finds it the way {@code ss} and {@code lsof} do: the socket's
 * inode from {@code /proc/self/net/tcp} (or {@code tcp6}), matched by both its addresses, then the
 * descriptor in {@code /proc/self/fd} that links to {@code socket:[inode]}; and it calls {@code setsockopt}
 * through the JDK's foreign function API (Java 22 and later; on Java 21 it is a preview API and this class
 * reports itself unavailable), looked up by reflection so that braid still compiles for Java 21. Linux only.
 * {@code -Dbraid.nativeSocketOptions=false} turns it off. The JDK prints a one-time warning about a
 * restricted method unless the application runs with {@code --enable-native-access=ALL-UNNAMED} (or the
 * module's name).
 *
 * <h2>Threads</h2>
 * One instance per connection; {@link #request} from any thread. The lookup (the first time, also the
 * foreign function linking, about 0.1 s) runs on a virtual thread of its own, never on the caller's (an I/O
 * thread); the {@code setsockopt} itself runs on the {@code owner} executor given at construction, which
 * should be the thread that closes the channel (nio: its event loop), after checking there that the channel
 * is open and its descriptor still links to the same socket, so a descriptor number reused by another socket
 * after a close is never touched. With a direct owner (loom, whose channels close from any thread) a close
 * between that check and the call leaves a window of microseconds in which a reused number could get the
 * option: a low-water mark on another of the process's sockets, which bounds only how much it queues unsent.
 * The static methods are stateless apart from the method handle resolved once (racy but idempotent).
 */
public final class TcpNotSentLowat {
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_NOTSENT_LOWAT = 25;
    private static final boolean ENABLED = SystemProperties.booleanValue("braid.nativeSocketOptions", true)
            && System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
            && Runtime.version().feature() >= 22;
    /** (int fd, int level, int name, int value) -> int, or null if the foreign function API is not there. */
    private static volatile MethodHandle setsockopt;
    private static volatile boolean failed;

    private final SocketChannel channel;
    private final java.util.concurrent.Executor owner;
    /** The value asked for last (0: the system's); any thread. */
    private final java.util.concurrent.atomic.AtomicInteger wanted = new java.util.concurrent.atomic.AtomicInteger();
    /** A lookup or apply is on its way; it applies {@link #wanted} as it is when it runs. */
    private final java.util.concurrent.atomic.AtomicBoolean pending = new java.util.concurrent.atomic.AtomicBoolean();
    /** The descriptor and its inode link, once found (written by the lookup thread, read by the owner after). */
    private volatile int fd = -1;
    private volatile String link;
    /** The value the kernel has, -1 before any; written on the owner thread, read by any. */
    private volatile int applied = -1;

    /**
     * @param channel the connection's channel
     * @param owner   where {@code setsockopt} runs: the thread that closes {@code channel}, or a direct executor
     */
    public TcpNotSentLowat(final SocketChannel channel, final java.util.concurrent.Executor owner) {
        this.channel = channel;
        this.owner = owner;
    }

    /**
     * Asks for {@code bytes} as the socket's {@code TCP_NOTSENT_LOWAT}, 0 for the system's own (none, unless
     * {@code net.ipv4.tcp_notsent_lowat} is set). Applied soon, in the background; the same value again does
     * nothing; failures (not available, not TCP, closed) leave the socket as it was. Any thread.
     *
     * @param bytes the low-water mark, or 0
     */
    public void request(final int bytes) {
        if (!available() || wanted.getAndSet(Math.max(0, bytes)) == bytes && applied >= 0) {
            return;
        }
        if (!pending.compareAndSet(false, true)) {
            return; // the one on its way applies the latest value
        }
        if (fd >= 0) {
            owner.execute(this::apply);
            return;
        }
        Thread.ofVirtual().name("braid-notsent-lowat").start(() -> {
            try {
                final int found = descriptorOf(channel);
                if (found >= 0 && handle() != null) {
                    link = Files.readSymbolicLink(Path.of("/proc/self/fd", Integer.toString(found))).toString();
                    fd = found;
                    owner.execute(this::apply);
                    return;
                }
            } catch (IOException | RuntimeException e) {
                // closed while we looked, or /proc not there: left as it is
            }
            pending.set(false);
        });
    }

    /** Owner thread: sets the latest value on the socket if the descriptor is still this channel's. */
    private void apply() {
        pending.set(false);
        final int v = wanted.get();
        if (v == applied || !channel.isOpen()) {
            return;
        }
        try {
            if (!link.equals(Files.readSymbolicLink(Path.of("/proc/self/fd", Integer.toString(fd))).toString())) {
                return;
            }
        } catch (IOException e) {
            return;
        }
        if (setOn(fd, v)) {
            applied = v;
            System.getLogger("dev.braid").log(System.Logger.Level.DEBUG, () -> "TCP_NOTSENT_LOWAT of the socket to "
                    + remoteOrNone() + ": " + (v == 0 ? "the system's" : v + " bytes"));
        }
    }

    private String remoteOrNone() {
        try {
            return String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            return "(closed)";
        }
    }

    /** {@return the value the socket was last given (0: the system's), or -1 before any; for tests} */
    public int applied() {
        return applied;
    }

    /** {@return whether this JVM can set it (Linux, Java 22+, not turned off, not failed before)} */
    public static boolean available() {
        return ENABLED && !failed;
    }

    /** setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes); {@return whether the kernel took it} */
    static boolean setOn(final int fd, final int bytes) {
        final MethodHandle h = handle();
        if (h == null) {
            return false;
        }
        try {
            return (int) h.invokeExact(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes) == 0;
        } catch (Throwable e) {
            return false;
        }
    }

    /** The descriptor of {@code channel}'s socket, or -1. */
    static int descriptorOf(final SocketChannel channel) throws IOException {
        if (!(channel.getLocalAddress() instanceof InetSocketAddress local)
                || !(channel.getRemoteAddress() instanceof InetSocketAddress remote)) {
            return -1;
        }
        final String inode = inodeOf(local, remote);
        if (inode == null) {
            return -1;
        }
        final String link = "socket:[" + inode + "]";
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : fds) {
                try {
                    if (link.equals(Files.readSymbolicLink(p).toString())) {
                        return Integer.parseInt(p.getFileName().toString());
                    }
                } catch (IOException | NumberFormatException e) {
                    // closed while we looked, or the directory's own descriptor: next
                }
            }
        }
        return -1;
    }

    /** The inode of the TCP socket with these two addresses, from /proc/self/net/tcp or tcp6, or null. */
    static String inodeOf(final InetSocketAddress local, final InetSocketAddress remote) throws IOException {
        final String l = procAddress(local);
        final String r = procAddress(remote);
        final String table = local.getAddress().getAddress().length == 4 ? "tcp" : "tcp6";
        final String found = inodeIn(Path.of("/proc/self/net", table), l, r);
        if (found != null || !table.equals("tcp")) {
            return found;
        }
        // an IPv4 address on a dual-stack socket is listed in tcp6 as ::ffff:a.b.c.d
        return inodeIn(Path.of("/proc/self/net/tcp6"), mapped(local), mapped(remote));
    }

    private static String inodeIn(final Path table, final String local, final String remote) throws IOException {
        for (String line : Files.readAllLines(table, StandardCharsets.US_ASCII)) {
            final String[] f = line.trim().split("\\s+");
            if (f.length > 9 && f[1].equalsIgnoreCase(local) && f[2].equalsIgnoreCase(remote)) {
                return f[9];
            }
        }
        return null;
    }

    /** An address as /proc/net/tcp* writes it: each 32-bit word of the address in host order, then the port. */
    static String procAddress(final InetSocketAddress a) {
        return hexWords(a.getAddress().getAddress()) + ":" + String.format("%04X", a.getPort());
    }

    private static String mapped(final InetSocketAddress a) {
        final byte[] v4 = a.getAddress().getAddress();
        final byte[] v6 = new byte[16];
        v6[10] = (byte) 0xFF;
        v6[11] = (byte) 0xFF;
        System.arraycopy(v4, 0, v6, 12, 4);
        return hexWords(v6) + ":" + String.format("%04X", a.getPort());
    }

    private static String hexWords(final byte[] b) {
        final StringBuilder s = new StringBuilder(b.length * 2);
        final boolean little = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;
        for (int w = 0; w < b.length; w += 4) {
            for (int i = 0; i < 4; i++) {
                s.append(String.format("%02X", b[w + (little ? 3 - i : i)] & 0xFF));
            }
        }
        return s.toString();
    }

    /** setsockopt(fd, level, name, &value, 4) as (int, int, int, int) -> int, resolved once; null if it cannot be. */
    private static MethodHandle handle() {
        MethodHandle h = setsockopt;
        if (h != null || failed) {
            return h;
        }
        try {
            h = resolve();
            setsockopt = h;
            return h;
        } catch (Throwable e) {
            failed = true;
            System.getLogger("dev.braid").log(System.Logger.Level.DEBUG,
                    "TCP_NOTSENT_LOWAT through the foreign function API is not available: " + e);
            return null;
        }
    }

    /**
     * Builds, by reflection (braid compiles for Java 21, where the API is a preview): a downcall handle for
     * {@code int setsockopt(int, int, int, const void *, socklen_t)}, and around it a method that copies the
     * value into a 4-byte native segment of an automatic arena.
     */
    private static MethodHandle resolve() throws Throwable {
        final MethodHandles.Lookup lk = MethodHandles.publicLookup();
        final Class<?> linkerC = Class.forName("java.lang.foreign.Linker");
        final Class<?> optionC = Class.forName("java.lang.foreign.Linker$Option");
        final Class<?> lookupC = Class.forName("java.lang.foreign.SymbolLookup");
        final Class<?> segmentC = Class.forName("java.lang.foreign.MemorySegment");
        final Class<?> layoutC = Class.forName("java.lang.foreign.MemoryLayout");
        final Class<?> valueLayoutC = Class.forName("java.lang.foreign.ValueLayout");
        final Class<?> ofIntC = Class.forName("java.lang.foreign.ValueLayout$OfInt");
        final Class<?> descC = Class.forName("java.lang.foreign.FunctionDescriptor");
        final Class<?> arenaC = Class.forName("java.lang.foreign.Arena");
        final Class<?> allocatorC = Class.forName("java.lang.foreign.SegmentAllocator");

        final Object linker = linkerC.getMethod("nativeLinker").invoke(null);
        final Object lookup = linkerC.getMethod("defaultLookup").invoke(linker);
        final Object symbol = ((java.util.Optional<?>) lookupC.getMethod("find", String.class).invoke(lookup, "setsockopt"))
                .orElseThrow(() -> new IllegalStateException("no setsockopt in the C library"));
        final Object javaInt = valueLayoutC.getField("JAVA_INT").get(null);
        final Object address = valueLayoutC.getField("ADDRESS").get(null);
        final Object args = Array.newInstance(layoutC, 5);
        Array.set(args, 0, javaInt);
        Array.set(args, 1, javaInt);
        Array.set(args, 2, javaInt);
        Array.set(args, 3, address);
        Array.set(args, 4, javaInt);
        final Object desc = descC.getMethod("of", layoutC, args.getClass()).invoke(null, javaInt, args);
        final MethodHandle downcall = (MethodHandle) linkerC
                .getMethod("downcallHandle", segmentC, descC, Array.newInstance(optionC, 0).getClass())
                .invoke(linker, symbol, desc, Array.newInstance(optionC, 0));
        // (int, int, int, MemorySegment, int) -> int

        final MethodHandle ofAuto = lk.findStatic(arenaC, "ofAuto", MethodType.methodType(arenaC));
        final MethodHandle allocate = lk.findVirtual(allocatorC, "allocate",
                MethodType.methodType(segmentC, layoutC));
        final MethodHandle setInt = lk.findVirtual(segmentC, "set",
                MethodType.methodType(void.class, ofIntC, long.class, int.class));
        return MethodHandles.insertArguments(
                MethodHandles.lookup().findStatic(TcpNotSentLowat.class, "call", MethodType.methodType(int.class, MethodHandle.class,
                        MethodHandle.class, MethodHandle.class, MethodHandle.class, Object.class, int.class, int.class,
                        int.class, int.class)),
                0, downcall, ofAuto, allocate, setInt, javaInt);
    }

    @SuppressWarnings("unused") // bound by resolve()
    private static int call(final MethodHandle downcall, final MethodHandle ofAuto, final MethodHandle allocate,
                            final MethodHandle setInt, final Object javaInt, final int fd, final int level,
                            final int name, final int value) throws Throwable {
        final Object arena = ofAuto.invoke();
        final Object segment = allocate.invoke(arena, javaInt);
        setInt.invoke(segment, javaInt, 0L, value);
        return (int) downcall.invoke(fd, level, name, segment, 4);
    }
}
