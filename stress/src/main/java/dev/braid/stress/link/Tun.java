package dev.braid.stress.link;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Array;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A TUN device (layer 3, no packet information header) opened through {@code /dev/net/tun}: one IP packet per
 * {@link #read} and per {@link #write}.
 *
 * <p>Java cannot attach to a TUN device by itself (it takes an {@code ioctl(TUNSETIFF)}), so this calls the C
 * library's {@code open}, {@code ioctl}, {@code poll}, {@code read}, {@code write} and {@code close} through
 * the JDK's foreign function API ({@code java.lang.foreign}, final since JDK 22). braid compiles for release
 * 21, where that API is still a preview, so it is reached by reflection: the code below is the plain FFM
 * calls, one reflective step each, and becomes direct calls when the build moves to release 22+. Running it
 * needs JDK 22+, root (CAP_NET_ADMIN) and {@code /dev/net/tun}; {@link #unavailabilityCause()} says which is
 * missing. The JVM warns about native access unless started with {@code --enable-native-access=ALL-UNNAMED}.
 *
 * <h2>Threads</h2>
 * {@link #read} (with {@link #awaitReadable}) by one thread, {@link #write} by one thread (they may be
 * different: each has its own native buffer); {@link #close} once, after both stopped.
 */
final class Tun implements AutoCloseable {
    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TUN = 0x0001;
    private static final short IFF_NO_PI = 0x1000;
    private static final short POLLIN = 0x1;
    private static final short POLLERR = 0x8;
    private static final short POLLHUP = 0x10;
    private static final short POLLNVAL = 0x20;
    private static final int IFREQ_SIZE = 40; // struct ifreq: char ifr_name[16], then a union (ifr_flags: short)
    static final int MAX_PACKET = 65_535;

    private static final Native NATIVE;
    private static final String UNAVAILABLE;

    static {
        Native n = null;
        String cause = null;
        try {
            n = new Native();
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            cause = "the JDK's foreign function API (java.lang.foreign, JDK 22+) is not usable here ("
                    + Runtime.version() + "): " + e;
        }
        NATIVE = n;
        UNAVAILABLE = cause;
    }

    private final String name;
    private final int fd;
    private final Object arena;
    private final Object readSegment;
    private final ByteBuffer readBuffer;
    private final Object writeSegment;
    private final ByteBuffer writeBuffer;
    private final Object pollSegment;
    private final ByteBuffer pollBuffer;

    /** Null when TUN devices can be opened here, else why not (JDK, permissions, missing device). */
    static String unavailabilityCause() {
        if (UNAVAILABLE != null) {
            return UNAVAILABLE;
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return "/dev/net/tun does not exist (no TUN driver)";
        }
        if (!PrivateNetns.isRoot()) {
            return "not running as root (TUN devices and network namespaces need CAP_NET_ADMIN; user "
                    + System.getProperty("user.name") + ")";
        }
        return null;
    }

    private Tun(final String name, final int fd) throws ReflectiveOperationException {
        this.name = name;
        this.fd = fd;
        this.arena = NATIVE.newArena();
        this.readSegment = NATIVE.allocate(arena, MAX_PACKET);
        this.readBuffer = NATIVE.asByteBuffer(readSegment);
        this.writeSegment = NATIVE.allocate(arena, MAX_PACKET);
        this.writeBuffer = NATIVE.asByteBuffer(writeSegment);
        this.pollSegment = NATIVE.allocate(arena, 8);
        this.pollBuffer = NATIVE.asByteBuffer(pollSegment).order(ByteOrder.nativeOrder());
    }

    /** Creates (or attaches to) TUN device {@code name} in the calling thread's network namespace. */
    static Tun open(final String name) throws IOException {
        final String cause = unavailabilityCause();
        if (cause != null) {
            throw new IOException("cannot open TUN device " + name + ": " + cause);
        }
        if (name.getBytes(StandardCharsets.US_ASCII).length > 15) {
            throw new IllegalArgumentException("interface name longer than 15 bytes: " + name);
        }
        try {
            final Object arena = NATIVE.newArena();
            try {
                final Object path = NATIVE.cString(arena, "/dev/net/tun");
                final int fd = (int) NATIVE.open.invokeWithArguments(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
                if (fd < 0) {
                    throw new IOException("open(/dev/net/tun) failed");
                }
                final Object ifreq = NATIVE.allocate(arena, IFREQ_SIZE);
                final ByteBuffer b = NATIVE.asByteBuffer(ifreq).order(ByteOrder.nativeOrder());
                b.put(0, name.getBytes(StandardCharsets.US_ASCII));
                b.putShort(16, (short) (IFF_TUN | IFF_NO_PI));
                final int r = (int) NATIVE.ioctl.invokeWithArguments(fd, TUNSETIFF, ifreq);
                if (r < 0) {
                    NATIVE.close.invokeWithArguments(fd);
                    throw new IOException("ioctl(TUNSETIFF, " + name + ") failed (needs CAP_NET_ADMIN)");
                }
                return new Tun(name, fd);
            } finally {
                NATIVE.closeArena(arena);
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IOException("cannot open TUN device " + name + ": " + e, e);
        }
    }

    String name() {
        return name;
    }

    /**
     * Reader: waits up to {@code millis} for a packet; true if one can be read.
     *
     * @throws IOException if the device reports an error or was closed under the reader
     */
    boolean awaitReadable(final int millis) throws IOException {
        pollBuffer.putInt(0, fd).putShort(4, POLLIN).putShort(6, (short) 0);
        final int r = invokeInt(NATIVE.poll, pollSegment, 1L, millis);
        if (r < 0) {
            return false; // EINTR and the like: the caller looks again
        }
        if (r > 0 && (pollBuffer.getShort(6) & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
            throw new IOException("TUN device " + name + ": poll revents 0x" + Integer.toHexString(pollBuffer.getShort(6)));
        }
        return r > 0;
    }

    /**
     * Reader: copies the next packet into {@code into} (the device's MTU or more) and returns its length; -1
     * if none is waiting.
     *
     * @throws IOException if the device is gone, or the packet is longer than {@code into}
     */
    int read(final byte[] into) throws IOException {
        final long n = invokeLong(NATIVE.read, fd, readSegment, (long) MAX_PACKET);
        if (n < 0) {
            return -1; // EAGAIN (nothing waiting); a real error shows as POLLERR and repeated failures
        }
        if (n > into.length) {
            throw new IOException(name + ": a packet of " + n + " bytes, more than the link's MTU of " + into.length);
        }
        readBuffer.get(0, into, 0, (int) n);
        return (int) n;
    }

    /** Writer: hands one packet to the kernel (as if it arrived on this device). False if refused. */
    boolean write(final byte[] packet, final int length) throws IOException {
        writeBuffer.put(0, packet, 0, length);
        return invokeLong(NATIVE.write, fd, writeSegment, (long) length) == length;
    }

    @Override
    public void close() {
        try {
            NATIVE.close.invokeWithArguments(fd);
        } catch (Throwable e) {
            // closing anyway
        }
        NATIVE.closeArena(arena);
    }

    private static int invokeInt(final MethodHandle h, final Object... args) throws IOException {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable e) {
            throw new IOException(e);
        }
    }

    private static long invokeLong(final MethodHandle h, final Object... args) throws IOException {
        try {
            return (long) h.invokeWithArguments(args);
        } catch (Throwable e) {
            throw new IOException(e);
        }
    }

    /**
     * The FFM calls, by reflection (see the class comment). Each field is what the direct code would be:
     * {@code Linker.nativeLinker().downcallHandle(defaultLookup().find("read").get(),
     * FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG))} and so on.
     */
    private static final class Native {
        final MethodHandle open;
        final MethodHandle ioctl;
        final MethodHandle poll;
        final MethodHandle read;
        final MethodHandle write;
        final MethodHandle close;
        private final Method ofShared;
        private final Method allocate;
        private final Method asByteBuffer;
        private final Method arenaClose;

        Native() throws ReflectiveOperationException {
            final Class<?> linkerC = Class.forName("java.lang.foreign.Linker");
            final Class<?> optionC = Class.forName("java.lang.foreign.Linker$Option");
            final Class<?> lookupC = Class.forName("java.lang.foreign.SymbolLookup");
            final Class<?> segmentC = Class.forName("java.lang.foreign.MemorySegment");
            final Class<?> layoutC = Class.forName("java.lang.foreign.MemoryLayout");
            final Class<?> descriptorC = Class.forName("java.lang.foreign.FunctionDescriptor");
            final Class<?> valueLayoutC = Class.forName("java.lang.foreign.ValueLayout");
            final Class<?> arenaC = Class.forName("java.lang.foreign.Arena");
            final Object linker = linkerC.getMethod("nativeLinker").invoke(null);
            final Object lookup = linkerC.getMethod("defaultLookup").invoke(linker);
            final Object jInt = valueLayoutC.getField("JAVA_INT").get(null);
            final Object jLong = valueLayoutC.getField("JAVA_LONG").get(null);
            final Object address = valueLayoutC.getField("ADDRESS").get(null);
            final Method find = lookupC.getMethod("find", String.class);
            final Method of = descriptorC.getMethod("of", layoutC, Array.newInstance(layoutC, 0).getClass());
            final Method downcall = linkerC.getMethod("downcallHandle", segmentC, descriptorC,
                    Array.newInstance(optionC, 0).getClass());
            final Method variadic = optionC.getMethod("firstVariadicArg", int.class);
            final Object noOptions = Array.newInstance(optionC, 0);
            final Object variadicAt2 = Array.newInstance(optionC, 1);
            Array.set(variadicAt2, 0, variadic.invoke(null, 2));

            // int open(const char *path, int flags, ...)   (mode passed as the one variadic int)
            open = handle(downcall, linker, find, lookup, "open", of.invoke(null, jInt, layouts(layoutC, address, jInt, jInt)), variadicAt2);
            // int ioctl(int fd, unsigned long request, ...)   (the struct ifreq pointer is variadic)
            ioctl = handle(downcall, linker, find, lookup, "ioctl", of.invoke(null, jInt, layouts(layoutC, jInt, jLong, address)), variadicAt2);
            // int poll(struct pollfd *fds, nfds_t n, int timeout)
            poll = handle(downcall, linker, find, lookup, "poll", of.invoke(null, jInt, layouts(layoutC, address, jLong, jInt)), noOptions);
            // ssize_t read(int fd, void *buf, size_t n), ssize_t write(int fd, const void *buf, size_t n)
            read = handle(downcall, linker, find, lookup, "read", of.invoke(null, jLong, layouts(layoutC, jInt, address, jLong)), noOptions);
            write = handle(downcall, linker, find, lookup, "write", of.invoke(null, jLong, layouts(layoutC, jInt, address, jLong)), noOptions);
            // int close(int fd)
            close = handle(downcall, linker, find, lookup, "close", of.invoke(null, jInt, layouts(layoutC, jInt)), noOptions);

            ofShared = arenaC.getMethod("ofShared");
            allocate = arenaC.getMethod("allocate", long.class);
            asByteBuffer = segmentC.getMethod("asByteBuffer");
            arenaClose = arenaC.getMethod("close");
        }

        private static Object layouts(final Class<?> layoutC, final Object... ls) {
            final Object a = Array.newInstance(layoutC, ls.length);
            for (int i = 0; i < ls.length; i++) {
                Array.set(a, i, ls[i]);
            }
            return a;
        }

        private static MethodHandle handle(final Method downcall, final Object linker, final Method find,
                                           final Object lookup, final String symbol, final Object descriptor,
                                           final Object options) throws ReflectiveOperationException {
            final java.util.Optional<?> address = (java.util.Optional<?>) find.invoke(lookup, symbol);
            return (MethodHandle) downcall.invoke(linker, address.orElseThrow(
                    () -> new IllegalStateException("no symbol " + symbol + " in the C library")), descriptor, options);
        }

        Object newArena() throws ReflectiveOperationException {
            return ofShared.invoke(null);
        }

        Object allocate(final Object arena, final long bytes) throws ReflectiveOperationException {
            return allocate.invoke(arena, bytes);
        }

        ByteBuffer asByteBuffer(final Object segment) throws ReflectiveOperationException {
            return (ByteBuffer) asByteBuffer.invoke(segment);
        }

        Object cString(final Object arena, final String s) throws ReflectiveOperationException {
            final byte[] b = s.getBytes(StandardCharsets.US_ASCII);
            final Object seg = allocate(arena, b.length + 1);
            asByteBuffer(seg).put(0, b).put(b.length, (byte) 0);
            return seg;
        }

        void closeArena(final Object arena) {
            try {
                arenaClose.invoke(arena);
            } catch (ReflectiveOperationException e) {
                // leak a few bytes rather than fail a close
            }
        }
    }
}
