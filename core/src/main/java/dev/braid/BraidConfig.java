package dev.braid;

import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.spi.SystemProperties;

import java.time.Duration;
import java.util.concurrent.ExecutorService;

/**
 * braid's configuration: one object, defaults from system properties ({@code braid.*}), setters that return
 * {@code this}, and {@link #conclude()} that validates ranges and freezes it (Aeron's {@code Context} style).
 * The properties are read strictly ({@link SystemProperties}): {@code -Dbraid.ioThreads=four} or
 * {@code -Dbraid.extensions=1} fails when the config is created, naming the property, the value and what it
 * takes, instead of quietly meaning the default.
 * A concluded config can no longer change; {@link Braid} concludes the config it is given.
 *
 * <p>Not thread-safe until concluded; safe to share once concluded.
 */
public final class BraidConfig {
    /**
     * The callback executor that runs callbacks directly on the thread that completes the call: usually the
     * connection's I/O thread (see {@link #callbackExecutor(java.util.concurrent.Executor)}). braid recognises
     * it by identity and hands nothing over: a {@link ReplyHandler} then allocates nothing per call, but a
     * callback that blocks stalls every connection of that I/O thread, and braid's own blocking operations
     * fail there with {@link BlockingOperationException}.
     */
    public static final java.util.concurrent.Executor DIRECT_CALLBACKS = new java.util.concurrent.Executor() {
        @Override
        public void execute(final Runnable command) {
            command.run();
        }

        @Override
        public String toString() {
            return "BraidConfig.DIRECT_CALLBACKS";
        }
    };

    /** Default limit on outstanding calls per connection; see docs/design.md for why 1024. */
    public static final int DEFAULT_MAX_OUTSTANDING_CALLS = 1024;

    private String backend = SystemProperties.stringValue("braid.backend", "auto",
            "auto, nio, epoll, loom or the class name of a dev.braid.spi.Backend");
    private int maxMessageSize = intProperty(Range.MAX_MESSAGE_SIZE, FrameHeader.DEFAULT_MAX_MESSAGE);
    private int maxOutstandingCalls = intProperty(Range.MAX_OUTSTANDING_CALLS, DEFAULT_MAX_OUTSTANDING_CALLS);
    private int maxQueuedCalls = intProperty(Range.MAX_QUEUED_CALLS, 65_536);
    private int connectAttempts = intProperty(Range.CONNECT_ATTEMPTS, 2);
    private int maxConcurrentStreams = intProperty(Range.MAX_CONCURRENT_STREAMS, 64);
    private int initialStreamWindow = intProperty(Range.INITIAL_STREAM_WINDOW, DEFAULT_STREAM_WINDOW);
    private boolean windowAutoTuning = SystemProperties.booleanValue("braid.windowAutoTuning", true);
    private int maxStreamWindow = intProperty(Range.MAX_STREAM_WINDOW, DEFAULT_MAX_STREAM_WINDOW);
    private int streamSendBudget = intProperty(Range.STREAM_SEND_BUDGET, DEFAULT_STREAM_WINDOW);
    private int tlsStreamSendBudget = intProperty(Range.TLS_STREAM_SEND_BUDGET, DEFAULT_STREAM_WINDOW / 2);
    private long maxQueuedEventBytes = SystemProperties.longValue("braid.maxQueuedEventBytes", 64L << 20,
            Range.MAX_QUEUED_EVENT_BYTES.min, Range.MAX_QUEUED_EVENT_BYTES.max);
    private int maxStreamPacket = intProperty(Range.MAX_STREAM_PACKET, FrameHeader.MAX_STREAM_PAYLOAD);
    private Duration streamFinishTimeout = millis("braid.streamFinishTimeoutMillis", 30_000);
    private Duration streamReadIdleTimeout = millis("braid.streamReadIdleTimeoutMillis", 0);
    private Duration defaultCallTimeout = millis("braid.callTimeoutMillis", 0);
    private Duration helloTimeout = millis("braid.helloTimeoutMillis", 10_000);
    private Duration connectTimeout = millis("braid.connectTimeoutMillis", 10_000);
    private Duration keepaliveInterval = millis("braid.keepaliveIntervalMillis", 5_000);
    private int keepaliveCount = intProperty(Range.KEEPALIVE_COUNT, 5);
    private Duration closeTimeout = millis("braid.closeTimeoutMillis", 5_000);
    private boolean extensions = SystemProperties.booleanValue("braid.extensions", true);
    private int ioThreads = intProperty(Range.IO_THREADS, defaultIoThreads());
    private int readBufferSize = intProperty(Range.READ_BUFFER_SIZE, 131_072);
    private Duration frameTimeout = millis("braid.frameTimeoutMillis", 30_000);
    private long minFrameRate = SystemProperties.longValue("braid.minFrameRate", 65_536, 1, Long.MAX_VALUE);
    private long maxStreamHole = SystemProperties.longValue("braid.maxStreamHole", 1L << 50, 1, Long.MAX_VALUE);
    private int maxQueuedControlReplies = intProperty(Range.MAX_QUEUED_CONTROL_REPLIES, 1024);
    private int maxPeerStreamAbortsPerWindow = intProperty(Range.MAX_PEER_STREAM_ABORTS_PER_WINDOW,
            DEFAULT_MAX_PEER_STREAM_ABORTS_PER_WINDOW);
    private Duration peerStreamAbortWindow = millis("braid.peerStreamAbortWindowMillis", 30_000);
    private int maxStreamOpensPerSecond = intProperty(Range.MAX_STREAM_OPENS_PER_SECOND,
            DEFAULT_MAX_STREAM_OPENS_PER_SECOND);
    private int maxConnections = intProperty(Range.MAX_CONNECTIONS, 5000);
    private int maxConnectionsPerAddress = intProperty(Range.MAX_CONNECTIONS_PER_ADDRESS, 1000);
    private int maxConnectionsInHello = intProperty(Range.MAX_CONNECTIONS_IN_HELLO, 200);
    private long maxPooledBytes = SystemProperties.longValue("braid.maxPooledBytes", 1L << 30,
            Range.MAX_POOLED_BYTES.min, Range.MAX_POOLED_BYTES.max);
    /**
     * Default {@link #maxPeerStreamAbortsPerWindow(int)}: 200 per {@link #peerStreamAbortWindow(Duration)} of
     * 30 s, Netty's server default against HTTP/2's rapid reset (CVE-2023-44487).
     */
    public static final int DEFAULT_MAX_PEER_STREAM_ABORTS_PER_WINDOW = 200;
    /**
     * Default {@link #maxStreamOpensPerSecond(int)}: 1,000 a second, with a burst of
     * {@link #maxConcurrentStreams(int)}. A stream is a transfer (a file, a console): a client opening more
     * than a thousand a second on one connection, for longer than its burst, is not a client braid serves.
     */
    public static final int DEFAULT_MAX_STREAM_OPENS_PER_SECOND = 1000;
    /**
     * What a stream the client opens and then aborts (while it is open) costs against
     * {@link #maxStreamOpensPerSecond(int)}, in opens: 10, so 100 open-and-abort cycles a second by default. The
     * server paid for a handler and got nothing; a legitimate client aborts now and then, a rapid-reset
     * attacker does nothing else.
     */
    public static final int STREAM_ABORT_OPEN_COST = 10;
    /** Default SO_SNDBUF: bounds the bytes a small call can find queued ahead of it in the kernel. */
    public static final int DEFAULT_SOCKET_SEND_BUFFER = 256 * 1024;
    /**
     * Default {@link #initialStreamWindow} and {@link #streamSendBudget}: four maximal stream packets at their
     * window cost (4 x (262,120 payload + 28 header) = 1,048,592 bytes), so four whole packets fit, not three
     * and a partial one as with 1 MiB.
     */
    public static final int DEFAULT_STREAM_WINDOW = 4 * (FrameHeader.HEADER_LENGTH + FrameHeader.MAX_STREAM_PAYLOAD);
    /**
     * Default {@link #maxStreamWindow}: 32 maximal packets (8,388,736 bytes), 5/4 of the bandwidth-delay
     * product of 125 MB/s (1 Gbit/s) at a 50 ms round trip, with room to spare.
     */
    public static final int DEFAULT_MAX_STREAM_WINDOW = 32 * (FrameHeader.HEADER_LENGTH + FrameHeader.MAX_STREAM_PAYLOAD);

    private int socketSendBufferSize = intProperty(Range.SOCKET_SEND_BUFFER_SIZE, DEFAULT_SOCKET_SEND_BUFFER);
    private int socketReceiveBufferSize = intProperty(Range.SOCKET_RECEIVE_BUFFER_SIZE, 0);
    private ExecutorService handlerExecutor;
    private java.util.concurrent.Executor callbackExecutor;
    private TlsOptions tls;
    private BufferPool bufferPool;
    private BraidObserver observer;
    private Duration slowCallThreshold = millis("braid.slowCallThresholdMillis", 1_000);
    private boolean concluded;

    /**
     * A configuration holding the defaults, each overridden by its {@code braid.*} system property when set.
     *
     * @throws BraidException (category CONFIG) naming the property, its value and what it accepts, when a
     *                        property is set to something that is not a value of its type
     */
    public BraidConfig() {
    }

    /**
     * The numeric settings and what each accepts, in one place: the system property reader and {@link #conclude()}
     * check the same range.
     */
    private enum Range {
        MAX_MESSAGE_SIZE("maxMessageSize", FrameHeader.HEADER_LENGTH + 256, 1 << 30),
        MAX_OUTSTANDING_CALLS("maxOutstandingCalls", 1, 1 << 20),
        MAX_QUEUED_CALLS("maxQueuedCalls", 0, Integer.MAX_VALUE),
        CONNECT_ATTEMPTS("connectAttempts", 1, 10),
        MAX_CONCURRENT_STREAMS("maxConcurrentStreams", 0, 1 << 20),
        INITIAL_STREAM_WINDOW("initialStreamWindow", 4096, Integer.MAX_VALUE),
        STREAM_SEND_BUDGET("streamSendBudget", 4096, Integer.MAX_VALUE),
        TLS_STREAM_SEND_BUDGET("tlsStreamSendBudget", 4096, Integer.MAX_VALUE),
        MAX_STREAM_WINDOW("maxStreamWindow", 4096, Integer.MAX_VALUE),
        KEEPALIVE_COUNT("keepaliveCount", 1, 1000),
        MAX_STREAM_PACKET("maxStreamPacket", 1, FrameHeader.MAX_STREAM_PAYLOAD),
        MAX_QUEUED_EVENT_BYTES("maxQueuedEventBytes", 0, Long.MAX_VALUE),
        IO_THREADS("ioThreads", 1, 1024),
        READ_BUFFER_SIZE("readBufferSize", 4096, 64 << 20),
        SOCKET_SEND_BUFFER_SIZE("socketSendBufferSize", 0, Integer.MAX_VALUE),
        SOCKET_RECEIVE_BUFFER_SIZE("socketReceiveBufferSize", 0, Integer.MAX_VALUE),
        MAX_QUEUED_CONTROL_REPLIES("maxQueuedControlReplies", 1, 1 << 20),
        MAX_PEER_STREAM_ABORTS_PER_WINDOW("maxPeerStreamAbortsPerWindow", 0, Integer.MAX_VALUE),
        MAX_STREAM_OPENS_PER_SECOND("maxStreamOpensPerSecond", 0, 1_000_000_000),
        MAX_CONNECTIONS("maxConnections", 1, Integer.MAX_VALUE),
        MAX_CONNECTIONS_PER_ADDRESS("maxConnectionsPerAddress", 1, Integer.MAX_VALUE),
        MAX_CONNECTIONS_IN_HELLO("maxConnectionsInHello", 1, Integer.MAX_VALUE),
        MAX_POOLED_BYTES("maxPooledBytes", 1L << 20, Long.MAX_VALUE);

        final String setting;
        final long min;
        final long max;

        Range(final String setting, final long min, final long max) {
            this.setting = setting;
            this.min = min;
            this.max = max;
        }
    }

    /** The default number of I/O threads: one per processor the JVM may use (at most 1024). */
    private static int defaultIoThreads() {
        return Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), (int) Range.IO_THREADS.max));
    }

    /** {@code braid.<setting>}: unset, the default; set, an integer in the setting's range or an error. */
    private static int intProperty(final Range range, final int def) {
        return SystemProperties.intValue("braid." + range.setting, def, (int) range.min, (int) range.max);
    }

    private static Duration millis(final String property, final long def) {
        return SystemProperties.millisValue(property, Duration.ofMillis(def));
    }

    /**
     * Validates every value and freezes the configuration.
     *
     * @return this configuration, now frozen
     * @throws BraidException (category CONFIG) naming the setting, its value and the allowed range
     */
    public BraidConfig conclude() {
        if (concluded) {
            return this;
        }
        range(Range.MAX_MESSAGE_SIZE, maxMessageSize);
        range(Range.MAX_OUTSTANDING_CALLS, maxOutstandingCalls);
        range(Range.MAX_QUEUED_CALLS, maxQueuedCalls);
        range(Range.CONNECT_ATTEMPTS, connectAttempts);
        range(Range.MAX_CONCURRENT_STREAMS, maxConcurrentStreams);
        range(Range.INITIAL_STREAM_WINDOW, initialStreamWindow);
        range(Range.STREAM_SEND_BUDGET, streamSendBudget);
        range(Range.TLS_STREAM_SEND_BUDGET, tlsStreamSendBudget);
        range(Range.MAX_STREAM_WINDOW, maxStreamWindow);
        range(Range.KEEPALIVE_COUNT, keepaliveCount);
        range(Range.MAX_STREAM_PACKET, maxStreamPacket);
        range(Range.MAX_QUEUED_EVENT_BYTES, maxQueuedEventBytes);
        positive("streamFinishTimeout", streamFinishTimeout);
        nonNegative("streamReadIdleTimeout", streamReadIdleTimeout);
        range(Range.IO_THREADS, ioThreads);
        range(Range.READ_BUFFER_SIZE, readBufferSize);
        range(Range.SOCKET_SEND_BUFFER_SIZE, socketSendBufferSize);
        range(Range.SOCKET_RECEIVE_BUFFER_SIZE, socketReceiveBufferSize);
        range(Range.MAX_QUEUED_CONTROL_REPLIES, maxQueuedControlReplies);
        range(Range.MAX_PEER_STREAM_ABORTS_PER_WINDOW, maxPeerStreamAbortsPerWindow);
        range(Range.MAX_STREAM_OPENS_PER_SECOND, maxStreamOpensPerSecond);
        positive("peerStreamAbortWindow", peerStreamAbortWindow);
        if (maxStreamHole < 1) {
            throw new BraidException(BraidException.Category.CONFIG, "maxStreamHole = " + maxStreamHole
                    + " is out of range [1, " + Long.MAX_VALUE + "]");
        }
        range(Range.MAX_CONNECTIONS, maxConnections);
        range(Range.MAX_CONNECTIONS_PER_ADDRESS, maxConnectionsPerAddress);
        range(Range.MAX_CONNECTIONS_IN_HELLO, maxConnectionsInHello);
        range(Range.MAX_POOLED_BYTES, maxPooledBytes);
        nonNegative("frameTimeout", frameTimeout);
        if (minFrameRate < 1) {
            throw new BraidException(BraidException.Category.CONFIG, "minFrameRate = " + minFrameRate
                    + " is out of range [1, " + Long.MAX_VALUE + "]");
        }
        nonNegative("defaultCallTimeout", defaultCallTimeout);
        positive("helloTimeout", helloTimeout);
        positive("connectTimeout", connectTimeout);
        nonNegative("keepaliveInterval", keepaliveInterval);
        nonNegative("closeTimeout", closeTimeout);
        positive("slowCallThreshold", slowCallThreshold);
        if (backend == null || backend.isBlank()) {
            throw new BraidException(BraidException.Category.CONFIG, "backend must not be empty (use auto, nio, "
                    + "epoll, loom or a class name)");
        }
        concluded = true;
        return this;
    }

    private static void range(final Range range, final long value) {
        if (value < range.min || value > range.max) {
            throw new BraidException(BraidException.Category.CONFIG, range.setting + " = " + value
                    + " is out of range [" + range.min + ", " + range.max + "]");
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

    /**
     * {@code auto}, {@code nio}, {@code epoll}, {@code loom} or a backend class name.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig backend(final String v) {
        mutable();
        backend = v;
        return this;
    }

    /**
     * Largest message accepted or sent, header included (default 33,554,432, libvirt's).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxMessageSize(final int v) {
        mutable();
        maxMessageSize = v;
        return this;
    }

    /**
     * Server: calls one connection may have outstanding before the server stops reading it (advertised in
     * HELLO). Client: in libvirt-compatible mode, how many calls it keeps outstanding before queueing.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxOutstandingCalls(final int v) {
        mutable();
        maxOutstandingCalls = v;
        return this;
    }

    /**
     * Client: connections {@code Braid.connect} opens, at most, when the server closes (or resets) one before
     * answering HELLO, 10 to 50 ms apart (a server at one of its connection limits closes new connections).
     * 1 to 10; default 2 ({@code braid.connectAttempts}); 1 never tries again.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig connectAttempts(final int v) {
        mutable();
        connectAttempts = v;
        return this;
    }

    /**
     * Client: calls that may wait for a free outstanding slot before new calls fail fast.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxQueuedCalls(final int v) {
        mutable();
        maxQueuedCalls = v;
        return this;
    }

    /**
     * Streams a peer may open concurrently on one connection (advertised in HELLO).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxConcurrentStreams(final int v) {
        mutable();
        maxConcurrentStreams = v;
        return this;
    }

    /**
     * Initial per-stream flow-control window in bytes (advertised in HELLO). Default
     * {@link #DEFAULT_STREAM_WINDOW}, four whole packets ({@code -Dbraid.initialStreamWindow}).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig initialStreamWindow(final int v) {
        mutable();
        initialStreamWindow = v;
        return this;
    }

    /**
     * Window auto-tuning (default on, {@code -Dbraid.windowAutoTuning}): with a braid peer that supports it,
     * this side measures the connection's round trip (PING/PONG on braid's extension program) and delivery
     * rate, and moves the per-stream window it grants towards 5/4 of the bandwidth-delay product, between
     * {@link #initialStreamWindow} and {@link #maxStreamWindow}, telling the peer with WINDOW messages; the
     * stream send budget and the socket's send buffer follow the windows the peer grants. Off: windows,
     * budget and socket buffers stay as configured (this side still answers the peer's PINGs and applies its
     * WINDOWs). docs/design.md, "Window auto-tuning".
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig windowAutoTuning(final boolean v) {
        mutable();
        windowAutoTuning = v;
        return this;
    }

    /** {@return the value set by {@link #windowAutoTuning(boolean)}, or its default} */
    public boolean windowAutoTuning() {
        return windowAutoTuning;
    }

    /**
     * Largest per-stream window auto-tuning may grant, in bytes (default {@link #DEFAULT_MAX_STREAM_WINDOW},
     * {@code -Dbraid.maxStreamWindow}); below {@link #initialStreamWindow} it is the initial window. It is
     * also the most the send budget may grow to. The memory bound (docs/design.md section 8) counts it.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxStreamWindow(final int v) {
        mutable();
        maxStreamWindow = v;
        return this;
    }

    /** {@return the value set by {@link #maxStreamWindow(int)}, or its default} */
    public int maxStreamWindow() {
        return maxStreamWindow;
    }

    /**
     * Bytes of stream data this side keeps in flight (sent, not yet credited back by the peer) on one
     * connection, shared among its sending streams: with N streams sending, each may have
     * {@code streamSendBudget / N} in flight (always at least one packet), within its own window. One stream
     * alone uses its whole window; several share the budget, so what a small call can find queued ahead of
     * it in the kernel stays about the same however many streams run (measured in docs/benchmarks.md). Local:
     * not negotiated, the peer's windows still apply. Default {@link #DEFAULT_STREAM_WINDOW} ({@code -Dbraid.streamSendBudget}).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig streamSendBudget(final int v) {
        mutable();
        streamSendBudget = v;
        return this;
    }

    /** {@return the value set by {@link #streamSendBudget(int)}, or its default} */
    public int streamSendBudget() {
        return streamSendBudget;
    }

    /**
     * {@link #streamSendBudget(int)} for connections with TLS ({@link #tls(TlsOptions)} set): default half of
     * the plaintext default, two maximal packets ({@code -Dbraid.tlsStreamSendBudget}). A call on a TLS
     * connection waits for the stream data ahead of it to be sealed, sent, received and opened, each byte
     * costing AES-GCM on an I/O thread instead of a copy (TLS streams run at about half plaintext's speed on
     * loopback), so the same wait holds about half the bytes: {@code FairnessRatioProbe} with two streams
     * each way, call p99 beside TLS streams about a fifth lower in six alternating pairs, the streams no
     * slower (docs/benchmarks.md, TLS). One stream alone still uses its whole window.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig tlsStreamSendBudget(final int v) {
        mutable();
        tlsStreamSendBudget = v;
        return this;
    }

    /** {@return the value set by {@link #tlsStreamSendBudget(int)}, or its default} */
    public int tlsStreamSendBudget() {
        return tlsStreamSendBudget;
    }

    /**
     * {@code sendEvent} never blocks; when this many bytes already wait to be sent on the connection (the
     * peer is not reading), it fails with {@link LimitExceededException} instead of queueing without bound.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxQueuedEventBytes(final long v) {
        mutable();
        maxQueuedEventBytes = v;
        return this;
    }

    /** {@return the value set by {@link #maxQueuedEventBytes(long)}, or its default} */
    public long maxQueuedEventBytes() {
        return maxQueuedEventBytes;
    }

    /**
     * Largest payload of a stream data packet this side sends (default and maximum 262,120, libvirt's).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig maxStreamPacket(final int v) {
        mutable();
        maxStreamPacket = v;
        return this;
    }

    /**
     * How long {@code finish()} waits for the peer's OK before aborting the stream (default 30 s).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig streamFinishTimeout(final Duration v) {
        mutable();
        streamFinishTimeout = v;
        return this;
    }

    /**
     * Aborts a stream whose received data nobody has read for this long (zero, the default, disables it).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig streamReadIdleTimeout(final Duration v) {
        mutable();
        streamReadIdleTimeout = v;
        return this;
    }

    /**
     * Timeout applied to calls that do not set their own; zero means none.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig defaultCallTimeout(final Duration v) {
        mutable();
        defaultCallTimeout = v;
        return this;
    }

    /**
     * TLS on every connection this braid makes and accepts (default: none, plaintext). A client then
     * verifies the server (and presents its own certificate if the options have one); a server presents its
     * certificate and asks for clients' as {@link TlsOptions#clientAuth()} says.
     *
     * @param v the options, or null for plaintext
     * @return this configuration
     */
    public BraidConfig tls(final TlsOptions v) {
        mutable();
        tls = v;
        return this;
    }

    /** {@return the TLS options, or null for plaintext} */
    public TlsOptions tls() {
        return tls;
    }

    /**
     * How long a new connection waits for the braid HELLO exchange before it fails (default 10 s).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig helloTimeout(final Duration v) {
        mutable();
        helloTimeout = v;
        return this;
    }

    /**
     * How long {@link Braid#connect} waits for the TCP connection (default 10 s).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig connectTimeout(final Duration v) {
        mutable();
        connectTimeout = v;
        return this;
    }

    /**
     * Idle time before a keepalive PING is sent; zero disables keepalive (PINGs are still answered).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig keepaliveInterval(final Duration v) {
        mutable();
        keepaliveInterval = v;
        return this;
    }

    /**
     * Unanswered PINGs after which the peer is declared dead (libvirt's default: 5).
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig keepaliveCount(final int v) {
        mutable();
        keepaliveCount = v;
        return this;
    }

    /**
     * How long a graceful close waits for in-flight calls.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig closeTimeout(final Duration v) {
        mutable();
        closeTimeout = v;
        return this;
    }

    /**
     * Whether to negotiate braid's extension program (HELLO); off = plain libvirt behaviour.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig extensions(final boolean v) {
        mutable();
        extensions = v;
        return this;
    }

    /**
     * I/O threads (event loops) of the nio and epoll backends. Default: one per processor the JVM may use
     * ({@link Runtime#availableProcessors()}, read when the configuration is created), at most 1024. The
     * loom backend has no loops and ignores it.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig ioThreads(final int v) {
        mutable();
        ioThreads = v;
        return this;
    }

    /**
     * Bytes read from a socket at a time, per connection (default 131,072).
     *
     * @param v the value
     * @return this configuration
     */
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
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig socketSendBufferSize(final int v) {
        mutable();
        socketSendBufferSize = v;
        return this;
    }

    /**
     * SO_RCVBUF in bytes; 0 (the default) leaves it to the operating system.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig socketReceiveBufferSize(final int v) {
        mutable();
        socketReceiveBufferSize = v;
        return this;
    }

    /**
     * Executor for blocking handlers and event listeners. Default: a new virtual thread per task, owned and
     * shut down by {@link Braid}. An executor given here stays owned by the caller.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig handlerExecutor(final ExecutorService v) {
        mutable();
        handlerExecutor = v;
        return this;
    }

    /**
     * Where client-side callbacks run: the completion of the futures braid returns
     * ({@link Connection#callAsync(Procedure, java.nio.ByteBuffer, CallOptions) callAsync},
     * {@link Connection#openStreamAsync(Procedure, java.nio.ByteBuffer, StreamOptions) openStreamAsync},
     * {@link BraidStream#finishAsync()}, {@link Braid#connectAsync}) and with them every dependent stage
     * registered without an executor ({@code thenApply}, {@code whenComplete}), and the
     * {@link ReplyHandler} / {@link TypedReplyHandler} of every call.
     *
     * <p>Default (null): a new virtual thread per callback, owned and shut down by {@link Braid}; a callback
     * may block there (even on a braid call) without holding up any connection. {@link #DIRECT_CALLBACKS}
     * runs them on the thread that completes the call (usually the I/O thread) with no hand-off: the fastest
     * and allocation-free form, for callbacks that never block. Any other executor is used as given and
     * stays owned by the caller; it must accept tasks until the {@link Braid} is closed (a rejected callback
     * runs on the completing thread instead, so none is lost).
     *
     * <p>Callbacks of one connection may run concurrently on the default executor; their order is not the
     * order of the replies.
     *
     * @param v the executor, {@link #DIRECT_CALLBACKS}, or null for braid's default
     * @return this configuration
     */
    public BraidConfig callbackExecutor(final java.util.concurrent.Executor v) {
        mutable();
        callbackExecutor = v;
        return this;
    }

    /**
     * Buffer pool to use; default: a new pool owned by {@link Braid}.
     *
     * @param v the value
     * @return this configuration
     */
    public BraidConfig bufferPool(final BufferPool v) {
        mutable();
        bufferPool = v;
        return this;
    }

    /**
     * Receives events about connections, calls, streams, limit refusals, protocol errors and read
     * suspensions (see {@link BraidObserver} for its threads and costs). Default: none, and then braid does
     * no work for it.
     *
     * @param v the observer, or null for none
     * @return this configuration
     */
    public BraidConfig observer(final BraidObserver v) {
        mutable();
        observer = v;
        return this;
    }

    /** {@return the value set by {@link #observer(BraidObserver)}, or null} */
    public BraidObserver observer() {
        return observer;
    }

    /**
     * A call that takes at least this long to end is recorded as a {@code dev.braid.SlowCall} JDK Flight
     * Recorder event (when a recording has that event enabled; docs/design.md, "What an operator sees").
     * Default 1 s ({@code braid.slowCallThresholdMillis}).
     *
     * @param v the threshold, more than zero
     * @return this configuration
     */
    public BraidConfig slowCallThreshold(final Duration v) {
        mutable();
        slowCallThreshold = v;
        return this;
    }

    /** {@return the value set by {@link #slowCallThreshold(Duration)}, or its default} */
    public Duration slowCallThreshold() {
        return slowCallThreshold;
    }

    /** {@return the value set by {@link #backend(String)}, or its default} */
    public String backend() {
        return backend;
    }

    /** {@return the value set by {@link #maxMessageSize(int)}, or its default} */
    public int maxMessageSize() {
        return maxMessageSize;
    }

    /** {@return the value set by {@link #maxOutstandingCalls(int)}, or its default} */
    public int maxOutstandingCalls() {
        return maxOutstandingCalls;
    }

    /** {@return the value set by {@link #connectAttempts(int)}, or its default} */
    public int connectAttempts() {
        return connectAttempts;
    }

    /** {@return the value set by {@link #maxQueuedCalls(int)}, or its default} */
    public int maxQueuedCalls() {
        return maxQueuedCalls;
    }

    /** {@return the value set by {@link #maxConcurrentStreams(int)}, or its default} */
    public int maxConcurrentStreams() {
        return maxConcurrentStreams;
    }

    /** {@return the value set by {@link #initialStreamWindow(int)}, or its default} */
    public int initialStreamWindow() {
        return initialStreamWindow;
    }

    /** {@return the value set by {@link #maxStreamPacket(int)}, or its default} */
    public int maxStreamPacket() {
        return maxStreamPacket;
    }

    /** {@return the value set by {@link #streamFinishTimeout(Duration)}, or its default} */
    public Duration streamFinishTimeout() {
        return streamFinishTimeout;
    }

    /** {@return the value set by {@link #streamReadIdleTimeout(Duration)}, or its default} */
    public Duration streamReadIdleTimeout() {
        return streamReadIdleTimeout;
    }

    /** {@return the value set by {@link #defaultCallTimeout(Duration)}, or its default} */
    public Duration defaultCallTimeout() {
        return defaultCallTimeout;
    }

    /** {@return the value set by {@link #helloTimeout(Duration)}, or its default} */
    public Duration helloTimeout() {
        return helloTimeout;
    }

    /** {@return the value set by {@link #connectTimeout(Duration)}, or its default} */
    public Duration connectTimeout() {
        return connectTimeout;
    }

    /** {@return the value set by {@link #keepaliveInterval(Duration)}, or its default} */
    public Duration keepaliveInterval() {
        return keepaliveInterval;
    }

    /** {@return the value set by {@link #keepaliveCount(int)}, or its default} */
    public int keepaliveCount() {
        return keepaliveCount;
    }

    /** {@return the value set by {@link #closeTimeout(Duration)}, or its default} */
    public Duration closeTimeout() {
        return closeTimeout;
    }

    /** {@return the value set by {@link #extensions(boolean)}, or its default} */
    public boolean extensions() {
        return extensions;
    }

    /** {@return the value set by {@link #ioThreads(int)}, or its default} */
    public int ioThreads() {
        return ioThreads;
    }

    /** {@return the value set by {@link #readBufferSize(int)}, or its default} */
    public int readBufferSize() {
        return readBufferSize;
    }

    /** {@return the value set by {@link #socketSendBufferSize(int)}, or its default} */
    public int socketSendBufferSize() {
        return socketSendBufferSize;
    }

    /** {@return the value set by {@link #socketReceiveBufferSize(int)}, or its default} */
    public int socketReceiveBufferSize() {
        return socketReceiveBufferSize;
    }

    /** {@return the value set by {@link #handlerExecutor(ExecutorService)}, or its default} */
    public ExecutorService handlerExecutor() {
        return handlerExecutor;
    }

    /**
     * {@return the value set by {@link #callbackExecutor(java.util.concurrent.Executor)}: null for braid's
     * default (a virtual thread per callback)}
     */
    public java.util.concurrent.Executor callbackExecutor() {
        return callbackExecutor;
    }

    /** {@return the value set by {@link #bufferPool(BufferPool)}, or its default} */
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

    /**
     * The base time a peer has to complete a frame.
     *
     * @return the base time (see {@link #frameTimeout(Duration)})
     */
    public Duration frameTimeout() {
        return frameTimeout;
    }

    /**
     * The slowest rate a frame may arrive at.
     *
     * @return bytes per second (see {@link #minFrameRate(long)})
     */
    public long minFrameRate() {
        return minFrameRate;
    }

    /**
     * How many answers to the peer's control frames (keepalive PONGs) may wait unwritten on one connection
     * before the peer is closed as flooding PINGs without reading (a protocol error naming this limit).
     * Default 1024 ({@code braid.maxQueuedControlReplies}); Netty caps its HTTP/2 control frames at 10,000,
     * go-yamux its ping backlog at 32. A well-behaved peer sends one PING per keepalive interval.
     *
     * @param v the count, at least 1
     * @return this
     */
    public BraidConfig maxQueuedControlReplies(final int v) {
        mutable();
        maxQueuedControlReplies = v;
        return this;
    }

    /** {@return the value set by {@link #maxQueuedControlReplies(int)}, or its default} */
    public int maxQueuedControlReplies() {
        return maxQueuedControlReplies;
    }

    /**
     * Most streams a client may abort on one connection within {@link #peerStreamAbortWindow(Duration)}, as seen
     * by a server: its STREAM+ERROR on a stream still open here. One more within the window closes the
     * connection (a protocol error naming this limit, logged at WARNING by {@code dev.braid.peer}); every stream
     * still open on it is first aborted with that text, so the client reads why. The window starts at the first
     * abort counted and lasts {@link #peerStreamAbortWindow(Duration)}; the first abort after it starts the next
     * window. This is braid's answer to HTTP/2's "rapid reset" (CVE-2023-44487): a peer that opens and aborts
     * streams in a loop costs the server a handler per stream and is bounded by nothing else but
     * {@link #maxConcurrentStreams(int)}. Default 200 ({@code braid.maxPeerStreamAbortsPerWindow}), per 30 s, as
     * Netty's HTTP/2 server: about 7 aborts a second on average, and three times over every stream a client may
     * have open at once (64) within one window. 0 turns the limit off. Only a server counts: a client's streams
     * are all opened by the client, so a server aborting them costs the client nothing it did not ask for.
     *
     * @param v the count, at least 0 (0: no limit)
     * @return this
     */
    public BraidConfig maxPeerStreamAbortsPerWindow(final int v) {
        mutable();
        maxPeerStreamAbortsPerWindow = v;
        return this;
    }

    /** {@return the value set by {@link #maxPeerStreamAbortsPerWindow(int)}, or its default} */
    public int maxPeerStreamAbortsPerWindow() {
        return maxPeerStreamAbortsPerWindow;
    }

    /**
     * Most streams a client may open per second on one connection, on average, as seen by a server; an idle
     * connection may open {@link #maxConcurrentStreams(int)} at once (the burst). Enforced by back-pressure, not
     * by refusal: when a stream-opening CALL finds no token, the server stops reading that connection until one
     * is due, so the client's opens (and everything it sent after them) wait, in order, and nothing is refused
     * or lost; calls already read are answered meanwhile. A stream the client aborts while open costs 9 more
     * tokens (an open and abort costs 10, so 100 a second by default): a rapid-reset attacker (see
     * {@link #maxPeerStreamAbortsPerWindow(int)}) is slowed down where closing it would only make it reconnect.
     * Each wait is reported to {@link BraidObserver#readSuspended} ({@code STREAM_OPEN_RATE}); a connection
     * held for over a second is logged once at WARNING by {@code dev.braid.peer}, naming this limit. Default
     * 1,000 ({@code braid.maxStreamOpensPerSecond}); 0 turns the limit off. Only a server throttles.
     *
     * @param v opens per second, at least 0 (0: no limit)
     * @return this
     */
    public BraidConfig maxStreamOpensPerSecond(final int v) {
        mutable();
        maxStreamOpensPerSecond = v;
        return this;
    }

    /** {@return the value set by {@link #maxStreamOpensPerSecond(int)}, or its default} */
    public int maxStreamOpensPerSecond() {
        return maxStreamOpensPerSecond;
    }

    /**
     * The window of {@link #maxPeerStreamAbortsPerWindow(int)}. Default 30 s
     * ({@code braid.peerStreamAbortWindowMillis}).
     *
     * @param v the window, more than zero
     * @return this
     */
    public BraidConfig peerStreamAbortWindow(final Duration v) {
        mutable();
        peerStreamAbortWindow = v;
        return this;
    }

    /** {@return the value set by {@link #peerStreamAbortWindow(Duration)}, or its default} */
    public Duration peerStreamAbortWindow() {
        return peerStreamAbortWindow;
    }

    /**
     * Most connections one server ({@link BraidServer}) keeps open at once; a connection accepted beyond it
     * is closed at once, with a logged WARNING naming the limit (as libvirt's {@code max_clients}, whose
     * default this is). Default 5000 ({@code braid.maxConnections}).
     *
     * @param v the count, at least 1
     * @return this
     */
    public BraidConfig maxConnections(final int v) {
        mutable();
        maxConnections = v;
        return this;
    }

    /** {@return the value set by {@link #maxConnections(int)}, or its default} */
    public int maxConnections() {
        return maxConnections;
    }

    /**
     * Most connections one server keeps open at once from one remote IP address; beyond it a new connection
     * from that address is closed at once, with a logged WARNING naming the limit. Default 1000
     * ({@code braid.maxConnectionsPerAddress}): one address cannot take more than a fifth of
     * {@link #maxConnections(int)}'s default.
     *
     * @param v the count, at least 1
     * @return this
     */
    public BraidConfig maxConnectionsPerAddress(final int v) {
        mutable();
        maxConnectionsPerAddress = v;
        return this;
    }

    /** {@return the value set by {@link #maxConnectionsPerAddress(int)}, or its default} */
    public int maxConnectionsPerAddress() {
        return maxConnectionsPerAddress;
    }

    /**
     * Most connections one server holds that have not sent a whole first frame yet (a HELLO, or a first call
     * from a peer without extensions). Beyond it, each new connection closes the oldest one still without a
     * frame (with a logged WARNING naming the limit): an honest client sends its HELLO at once and is almost
     * never the oldest, while silent connections cost memory and say nothing ({@link #helloTimeout(Duration)}
     * closes each after a while anyway). Default 200 ({@code braid.maxConnectionsInHello}). libvirt's
     * {@code max_anonymous_clients} is 20 and pauses accepting when reached, which lets that many silent
     * connections lock new clients out until they time out; braid evicts instead.
     *
     * @param v the count, at least 1
     * @return this
     */
    public BraidConfig maxConnectionsInHello(final int v) {
        mutable();
        maxConnectionsInHello = v;
        return this;
    }

    /** {@return the value set by {@link #maxConnectionsInHello(int)}, or its default} */
    public int maxConnectionsInHello() {
        return maxConnectionsInHello;
    }

    /**
     * Most direct memory the braid's own buffer pool may hold, lent out and retained together (used only when
     * braid creates the pool: a pool given with {@link #bufferPool(BufferPool)} keeps its own budget). An
     * acquire beyond it first drops retained free buffers, then fails with a {@link LimitExceededException}
     * naming {@code maxPooledBytes}: the connection (or call, or stream) that needed it fails, not the process.
     * Default 1 GiB ({@code braid.maxPooledBytes}).
     *
     * @param v bytes, at least 1 MiB
     * @return this
     */
    public BraidConfig maxPooledBytes(final long v) {
        mutable();
        maxPooledBytes = v;
        return this;
    }

    /** {@return the value set by {@link #maxPooledBytes(long)}, or its default} */
    public long maxPooledBytes() {
        return maxPooledBytes;
    }

    /**
     * Most bytes one STREAM_HOLE may stand for. A hole costs the sender one small packet (512 bytes of window)
     * whatever its length, and a reader that reads bytes ({@code BraidStream.read}) receives that many zeros:
     * without a bound, one packet could keep a reader zero-filling for ever (2^63 bytes). A hole beyond it
     * aborts its stream with a {@code PROTOCOL} error naming this limit; the connection stays open. Default
     * 2^50 (1 PiB, {@code braid.maxStreamHole}): more than any disk image's hole.
     *
     * @param v bytes, at least 1
     * @return this
     */
    public BraidConfig maxStreamHole(final long v) {
        mutable();
        maxStreamHole = v;
        return this;
    }

    /** {@return the value set by {@link #maxStreamHole(long)}, or its default} */
    public long maxStreamHole() {
        return maxStreamHole;
    }
}
