package dev.braid;

import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.FrameHeader;

import java.time.Duration;
import java.util.concurrent.ExecutorService;

/**
 * braid's configuration: one object, defaults from system properties ({@code braid.*}), setters that return
 * {@code this}, and {@link #conclude()} that validates ranges and freezes it (Aeron's {@code Context} style).
 * A concluded config can no longer change; {@link Braid} concludes the config it is given.
 *
 * <p>Not thread-safe until concluded; safe to share once concluded.
 */
public final class BraidConfig {
    /** Default limit on outstanding calls per connection; see docs/design.md for why 1024. */
    public static final int DEFAULT_MAX_OUTSTANDING_CALLS = 1024;

    private String backend = System.getProperty("braid.backend", "auto");
    private int maxMessageSize = Integer.getInteger("braid.maxMessageSize", FrameHeader.DEFAULT_MAX_MESSAGE);
    private int maxOutstandingCalls = Integer.getInteger("braid.maxOutstandingCalls", DEFAULT_MAX_OUTSTANDING_CALLS);
    private int maxQueuedCalls = Integer.getInteger("braid.maxQueuedCalls", 65_536);
    private int maxConcurrentStreams = Integer.getInteger("braid.maxConcurrentStreams", 64);
    private int initialStreamWindow = Integer.getInteger("braid.initialStreamWindow", 1 << 20);
    private int streamSendBudget = Integer.getInteger("braid.streamSendBudget", 1 << 20);
    private long maxQueuedEventBytes = Long.getLong("braid.maxQueuedEventBytes", 64L << 20);
    private int maxStreamPacket = Integer.getInteger("braid.maxStreamPacket", FrameHeader.MAX_STREAM_PAYLOAD);
    private Duration streamFinishTimeout = millis("braid.streamFinishTimeoutMillis", 30_000);
    private Duration streamReadIdleTimeout = millis("braid.streamReadIdleTimeoutMillis", 0);
    private Duration defaultCallTimeout = millis("braid.callTimeoutMillis", 0);
    private Duration helloTimeout = millis("braid.helloTimeoutMillis", 10_000);
    private Duration connectTimeout = millis("braid.connectTimeoutMillis", 10_000);
    private Duration keepaliveInterval = millis("braid.keepaliveIntervalMillis", 5_000);
    private int keepaliveCount = Integer.getInteger("braid.keepaliveCount", 5);
    private Duration closeTimeout = millis("braid.closeTimeoutMillis", 5_000);
    private boolean extensions = Boolean.parseBoolean(System.getProperty("braid.extensions", "true"));
    private int ioThreads = Integer.getInteger("braid.ioThreads", 1);
    private int readBufferSize = Integer.getInteger("braid.readBufferSize", 131_072);
    private Duration frameTimeout = millis("braid.frameTimeoutMillis", 30_000);
    private long minFrameRate = Long.getLong("braid.minFrameRate", 65_536);
    /** Default SO_SNDBUF: bounds the bytes a small call can find queued ahead of it in the kernel. */
    public static final int DEFAULT_SOCKET_SEND_BUFFER = 256 * 1024;

    private int socketSendBufferSize = Integer.getInteger("braid.socketSendBufferSize", DEFAULT_SOCKET_SEND_BUFFER);
    private int socketReceiveBufferSize = Integer.getInteger("braid.socketReceiveBufferSize", 0);
    private ExecutorService handlerExecutor;
    private BufferPool bufferPool;
    private boolean concluded;

    private static Duration millis(final String property, final long def) {
        return Duration.ofMillis(Long.getLong(property, def));
    }

    /**
     * Validates every value and freezes the configuration.
     *
     * @throws BraidException (category CONFIG) naming the setting, its value and the allowed range
     */
    public BraidConfig conclude() {
        if (concluded) {
            return this;
        }
        range("maxMessageSize", maxMessageSize, FrameHeader.HEADER_LENGTH + 256, 1 << 30);
        range("maxOutstandingCalls", maxOutstandingCalls, 1, 1 << 20);
        range("maxQueuedCalls", maxQueuedCalls, 0, Integer.MAX_VALUE);
        range("maxConcurrentStreams", maxConcurrentStreams, 0, 1 << 20);
        range("initialStreamWindow", initialStreamWindow, 4096, Integer.MAX_VALUE);
        range("streamSendBudget", streamSendBudget, 4096, Integer.MAX_VALUE);
        range("keepaliveCount", keepaliveCount, 1, 1000);
        range("maxStreamPacket", maxStreamPacket, 1, FrameHeader.MAX_STREAM_PAYLOAD);
        range("maxQueuedEventBytes", maxQueuedEventBytes, 0, Long.MAX_VALUE);
        positive("streamFinishTimeout", streamFinishTimeout);
        nonNegative("streamReadIdleTimeout", streamReadIdleTimeout);
        range("ioThreads", ioThreads, 1, 1024);
        range("readBufferSize", readBufferSize, 4096, 64 << 20);
        nonNegative("frameTimeout", frameTimeout);
        range("minFrameRate", minFrameRate, 1, Long.MAX_VALUE);
        range("socketSendBufferSize", socketSendBufferSize, 0, Integer.MAX_VALUE);
        range("socketReceiveBufferSize", socketReceiveBufferSize, 0, Integer.MAX_VALUE);
        nonNegative("defaultCallTimeout", defaultCallTimeout);
        positive("helloTimeout", helloTimeout);
        positive("connectTimeout", connectTimeout);
        nonNegative("keepaliveInterval", keepaliveInterval);
        nonNegative("closeTimeout", closeTimeout);
        if (backend == null || backend.isBlank()) {
            throw new BraidException(BraidException.Category.CONFIG, "backend must not be empty (use auto, nio, "
                    + "epoll, loom or a class name)");
        }
        concluded = true;
        return this;
    }

    private static void range(final String name, final long value, final long min, final long max) {
        if (value < min || value > max) {
            throw new BraidException(BraidException.Category.CONFIG,
                    name + " = " + value + " is out of range [" + min + ", " + max + "]");
        }
    }

    private static void nonNegative(final String name, final Duration d) {
        if (d == null || d.isNegative()) {
            throw new BraidException(BraidException.Category.CONFIG, name + " = " + d + " must be >= 0");
        }
    }

    private static void positive(final String name, final Duration d) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new BraidException(BraidException.Category.CONFIG, name + " = " + d + " must be > 0");
        }
    }

    private void mutable() {
        if (concluded) {
            throw new IllegalStateException("configuration is concluded and can no longer change");
        }
    }

    /** {@code auto}, {@code nio}, {@code epoll}, {@code loom} or a backend class name. */
    public BraidConfig backend(final String v) {
        mutable();
        backend = v;
        return this;
    }

    /** Largest message accepted or sent, header included (default 33,554,432, libvirt's). */
    public BraidConfig maxMessageSize(final int v) {
        mutable();
        maxMessageSize = v;
        return this;
    }

    /**
     * Server: calls one connection may have outstanding before the server stops reading it (advertised in
     * HELLO). Client: in libvirt-compatible mode, how many calls it keeps outstanding before queueing.
     */
    public BraidConfig maxOutstandingCalls(final int v) {
        mutable();
        maxOutstandingCalls = v;
        return this;
    }

    /** Client: calls that may wait for a free outstanding slot before new calls fail fast. */
    public BraidConfig maxQueuedCalls(final int v) {
        mutable();
        maxQueuedCalls = v;
        return this;
    }

    /** Streams a peer may open concurrently on one connection (advertised in HELLO). */
    public BraidConfig maxConcurrentStreams(final int v) {
        mutable();
        maxConcurrentStreams = v;
        return this;
    }

    /** Initial per-stream flow-control window in bytes (advertised in HELLO). */
    public BraidConfig initialStreamWindow(final int v) {
        mutable();
        initialStreamWindow = v;
        return this;
    }

    /**
     * Bytes of stream data this side keeps in flight (sent, not yet credited back by the peer) on one
     * connection, shared among its sending streams: with N streams sending, each may have
     * {@code streamSendBudget / N} in flight (always at least one packet), within its own window. One stream
     * alone uses its whole window; several share the budget, so what a small call can find queued ahead of
     * it in the kernel stays about the same however many streams run (measured in docs/benchmarks.md). Local:
     * not negotiated, the peer's windows still apply. Default 1 MiB ({@code -Dbraid.streamSendBudget}).
     */
    public BraidConfig streamSendBudget(final int v) {
        mutable();
        streamSendBudget = v;
        return this;
    }

    public int streamSendBudget() {
        return streamSendBudget;
    }

    /**
     * {@code sendEvent} never blocks; when this many bytes already wait to be sent on the connection (the
     * peer is not reading), it fails with {@link LimitExceededException} instead of queueing without bound.
     */
    public BraidConfig maxQueuedEventBytes(final long v) {
        mutable();
        maxQueuedEventBytes = v;
        return this;
    }

    public long maxQueuedEventBytes() {
        return maxQueuedEventBytes;
    }

    /** Largest payload of a stream data packet this side sends (default and maximum 262,120, libvirt's). */
    public BraidConfig maxStreamPacket(final int v) {
        mutable();
        maxStreamPacket = v;
        return this;
    }

    /** How long {@code finish()} waits for the peer's OK before aborting the stream (default 30 s). */
    public BraidConfig streamFinishTimeout(final Duration v) {
        mutable();
        streamFinishTimeout = v;
        return this;
    }

    /**
     * Aborts a stream whose received data nobody has read for this long (zero, the default, disables it).
     */
    public BraidConfig streamReadIdleTimeout(final Duration v) {
        mutable();
        streamReadIdleTimeout = v;
        return this;
    }

    /** Timeout applied to calls that do not set their own; zero means none. */
    public BraidConfig defaultCallTimeout(final Duration v) {
        mutable();
        defaultCallTimeout = v;
        return this;
    }

    public BraidConfig helloTimeout(final Duration v) {
        mutable();
        helloTimeout = v;
        return this;
    }

    public BraidConfig connectTimeout(final Duration v) {
        mutable();
        connectTimeout = v;
        return this;
    }

    /** Idle time before a keepalive PING is sent; zero disables keepalive (PINGs are still answered). */
    public BraidConfig keepaliveInterval(final Duration v) {
        mutable();
        keepaliveInterval = v;
        return this;
    }

    /** Unanswered PINGs after which the peer is declared dead (libvirt's default: 5). */
    public BraidConfig keepaliveCount(final int v) {
        mutable();
        keepaliveCount = v;
        return this;
    }

    /** How long a graceful close waits for in-flight calls. */
    public BraidConfig closeTimeout(final Duration v) {
        mutable();
        closeTimeout = v;
        return this;
    }

    /** Whether to negotiate braid's extension program (HELLO); off = plain libvirt behaviour. */
    public BraidConfig extensions(final boolean v) {
        mutable();
        extensions = v;
        return this;
    }

    public BraidConfig ioThreads(final int v) {
        mutable();
        ioThreads = v;
        return this;
    }

    public BraidConfig readBufferSize(final int v) {
        mutable();
        readBufferSize = v;
        return this;
    }

    /**
     * SO_SNDBUF in bytes; 0 leaves it to the operating system (Linux autotunes it up to several MiB).
     * Default 256 KiB: what sits unsent in the kernel is what a small call waits behind when streams are
     * busy, and java.nio cannot set TCP_NOTSENT_LOWAT. On links with a large bandwidth-delay product a
     * larger value (or 0) gives a single connection more throughput; see docs/design.md.
     */
    public BraidConfig socketSendBufferSize(final int v) {
        mutable();
        socketSendBufferSize = v;
        return this;
    }

    public BraidConfig socketReceiveBufferSize(final int v) {
        mutable();
        socketReceiveBufferSize = v;
        return this;
    }

    /**
     * Executor for blocking handlers and event listeners. Default: a new virtual thread per task, owned and
     * shut down by {@link Braid}. An executor given here stays owned by the caller.
     */
    public BraidConfig handlerExecutor(final ExecutorService v) {
        mutable();
        handlerExecutor = v;
        return this;
    }

    /** Buffer pool to use; default: a new pool owned by {@link Braid}. */
    public BraidConfig bufferPool(final BufferPool v) {
        mutable();
        bufferPool = v;
        return this;
    }

    public String backend() {
        return backend;
    }

    public int maxMessageSize() {
        return maxMessageSize;
    }

    public int maxOutstandingCalls() {
        return maxOutstandingCalls;
    }

    public int maxQueuedCalls() {
        return maxQueuedCalls;
    }

    public int maxConcurrentStreams() {
        return maxConcurrentStreams;
    }

    public int initialStreamWindow() {
        return initialStreamWindow;
    }

    public int maxStreamPacket() {
        return maxStreamPacket;
    }

    public Duration streamFinishTimeout() {
        return streamFinishTimeout;
    }

    public Duration streamReadIdleTimeout() {
        return streamReadIdleTimeout;
    }

    public Duration defaultCallTimeout() {
        return defaultCallTimeout;
    }

    public Duration helloTimeout() {
        return helloTimeout;
    }

    public Duration connectTimeout() {
        return connectTimeout;
    }

    public Duration keepaliveInterval() {
        return keepaliveInterval;
    }

    public int keepaliveCount() {
        return keepaliveCount;
    }

    public Duration closeTimeout() {
        return closeTimeout;
    }

    public boolean extensions() {
        return extensions;
    }

    public int ioThreads() {
        return ioThreads;
    }

    public int readBufferSize() {
        return readBufferSize;
    }

    public int socketSendBufferSize() {
        return socketSendBufferSize;
    }

    public int socketReceiveBufferSize() {
        return socketReceiveBufferSize;
    }

    public ExecutorService handlerExecutor() {
        return handlerExecutor;
    }

    public BufferPool bufferPool() {
        return bufferPool;
    }

    /**
     * Time a peer has to complete a frame once its first byte arrived, on top of the frame's length at
     * {@link #minFrameRate(long)}; a frame not completed by then closes the connection (slowloris: any byte
     * resets keepalive, so without it a peer could hold a connection by dribbling). 0 disables. Default
     * 30 s ({@code braid.frameTimeoutMillis}).
     *
     * @param v the base time
     * @return this
     */
    public BraidConfig frameTimeout(final Duration v) {
        mutable();
        frameTimeout = v;
        return this;
    }

    /**
     * Slowest rate, in bytes per second, at which a frame may arrive beyond {@link #frameTimeout(Duration)}:
     * a frame of N bytes has {@code frameTimeout + N / minFrameRate} to complete. Default 65,536
     * ({@code braid.minFrameRate}): a 32 MiB frame gets 30 s + 512 s.
     *
     * @param v bytes per second, at least 1
     * @return this
     */
    public BraidConfig minFrameRate(final long v) {
        mutable();
        minFrameRate = v;
        return this;
    }

    /** @return the base time to complete a frame (see {@link #frameTimeout(Duration)}) */
    public Duration frameTimeout() {
        return frameTimeout;
    }

    /** @return the slowest rate a frame may arrive at (see {@link #minFrameRate(long)}) */
    public long minFrameRate() {
        return minFrameRate;
    }
}
