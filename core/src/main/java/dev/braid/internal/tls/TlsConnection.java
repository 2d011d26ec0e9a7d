package dev.braid.internal.tls;

import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.TlsIdentity;
import dev.braid.TlsOptions;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.ConnectionEngine;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLEngineResult.Status;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * TLS between a connection's engine and its backend, for every backend: to the backend it is the
 * {@link ConnectionHandler} (it reads and writes ciphertext), to the engine it is the {@link Transport}
 * ({@link TlsTransport}: the engine sees plaintext). One JDK {@link SSLEngine} per connection.
 *
 * <pre>
 *   backend (nio / epoll / loom)          TlsConnection                        ConnectionEngine
 *   reads  → inboundBuffer() = netIn  →  unwrap → engine.inboundBuffer()  →  frames as views (no copy)
 *   writes ← gatherOutbound() = netOut ← wrap   ← engine.gatherOutbound()  ← queued frames
 * </pre>
 *
 * <h2>Buffers (all from the connection's pool; who owns each)</h2>
 * <ul>
 *   <li>{@code netIn} (reader): ciphertext the backend reads into; one TLS packet of room at least, held for
 *       the connection's life, grown once to {@code BUSY_NET_IN_PACKETS} packets when a read fills it (a busy
 *       connection: each read then takes several records). Undecrypted bytes stay here while the engine has
 *       reading off.</li>
 *   <li>{@code CipherScratch} (heap, shared; held within one pass): a record of
 *       {@code CipherScratch.MIN_RECORD} bytes or more is sealed into one and copied into {@code netOut}, or
 *       copied out of {@code netIn} into one and opened there, because the JDK's AES-GCM is about twice as
 *       fast on a heap buffer as on a direct one.</li>
 *   <li>Plaintext goes straight into the engine's own {@code inboundBuffer()} (its read buffer, or a large
 *       frame's own buffer), so a small record's one copy is the decryption itself (a large record's plaintext
 *       is copied out of its scratch buffer: the JDK decrypts in place). Only when that buffer has
 *       less room than a record's plaintext does a record go through {@code staged} (reader; acquired for
 *       that record, released once the engine took it all).</li>
 *   <li>{@code netOut} (writer): records wrapped from the engine's frames, handed to the backend; acquired
 *       when there is something to write, released once it is written and nothing more waits.</li>
 *   <li>{@code control} (guarded by {@code wrapLock}): handshake flights, alerts and post-handshake
 *       answers (TLS 1.3 key updates) the reader wraps; the writer moves them into {@code netOut} first.
 *       Bounded by {@link #MAX_CONTROL_BYTES}.</li>
 * </ul>
 *
 * <h2>Threads</h2>
 * The backend's reader context calls {@link #onOpen}, {@link #inboundBuffer}, {@link #onInbound},
 * {@link #onInputClosed}; it unwraps, runs the handshake's delegated tasks inline, and wraps what the
 * handshake (or a key update, or an alert) must send. The writer context calls {@link #gatherOutbound} and
 * {@link #onOutboundWritten}; it wraps the engine's frames. The writer context is one thread at a time, by
 * the backend's contract ({@link ConnectionHandler}): the backend's I/O thread, or a thread writing through
 * ({@link Transport#requestUrgentFlush()}: a quiet call written, and so sealed, by its caller; a
 * non-blocking handler's answer sealed and written by the reading thread right after the handler returns),
 * whichever holds the backend's write flag; it alone touches {@code netOut}, and the {@code SSLEngine}'s
 * write side only under {@code wrapLock}. Every {@code wrap} runs under {@code wrapLock}
 * and appends to {@code control} or {@code netOut} in the order the records were sealed: the writer drains
 * {@code control} into {@code netOut} before it wraps anything new, and a {@code netOut} still being written
 * goes out before either, so records leave in sequence-number order. {@code unwrap} needs no lock (the JDK
 * allows one {@code wrap} and one {@code unwrap} at a time). The engine is opened ({@code onOpen}) on the
 * reader context once the handshake is done; until then it is never called, except {@code onClosed}, which
 * {@link #onClosed} always forwards (so a failed handshake fails the client's connect). The handshake
 * deadline runs on the runtime's timer thread and only closes the transport.
 *
 * <h2>Closing</h2>
 * The engine's close reaches the backend through {@link TlsTransport#close}; the backend's last flush then
 * gathers once more: the engine's last frames, then a close_notify. A close_notify from the peer is the
 * engine's end of stream; an end of stream without one is {@link Reason#TLS_TRUNCATED}, and an end of stream
 * during the handshake, a failure, or the deadline is {@link Reason#TLS_FAILED} with a message that says which.
 */
public final class TlsConnection implements ConnectionHandler {
    /**
     * libvirt's TLS confirmation: once the handshake is done, the server sends this one byte of application
     * data (libvirt's server after its own checks of the client's certificate and address; 0 would mean
     * refused), and the client reads it before anything else (libvirt's virNetClient does). braid does the
     * same on both sides, so it interoperates with libvirt's daemons and clients in either role.
     */
    static final byte CONFIRMATION = 1;
    /** Most the reader may queue for the writer (handshake flights, alerts, key-update answers). */
    static final int MAX_CONTROL_BYTES = 256 * 1024;
    /** Records per {@code netOut}: fewer system calls, each batch still bounded. */
    private static final int RECORDS_PER_WRITE = 4;
    /**
     * {@code netIn}'s size, in TLS packets, once a read has filled it: {@code onOpen} takes one packet (the
     * pool's 32 KiB class), a busy connection grows to this.
     */
    private static final int BUSY_NET_IN_PACKETS = Integer.getInteger("braid.tls.busyNetInPackets", 2);
    /** The content type of a TLS handshake record (a ClientHello's). */
    private static final byte HANDSHAKE_RECORD = 22;
    /** The content type of a TLS alert record. */
    private static final byte ALERT_RECORD = 21;
    /** A TLS record's header: type, version, length. */
    private static final int RECORD_HEADER = 5;
    /** Plaintext one TLS record carries at most (RFC 8446 §5.1). */
    private static final int MAX_PLAINTEXT = 16_384;
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final ConnectionEngine engine;
    private final TlsOptions options;
    private final boolean client;
    private final BufferPool pool;
    private final ScheduledExecutorService timer;
    private final Consumer<ConnectionClosedException> failedBeforeOpen;
    private final SSLEngine ssl;
    /**
     * The engine is the JDK's, whose AES-GCM is about twice as fast on a heap buffer as on a direct one: large
     * records go through {@code CipherScratch}. Another provider's (BoringSSL through Netty) works on direct
     * buffers and would copy a heap one: it seals and opens in place. Another provider's may also seal one
     * record per source buffer (Netty's OpenSSL engine, in the JDK-compatible mode its {@code SslContext.newEngine}
     * gives: each {@code wrap} takes the first non-empty source only), so consecutive buffers shorter than a
     * record are copied into one first ({@link #wrapCoalesced}); the JDK's gathers every source into its record.
     */
    private final boolean heapCipher;
    private final TlsTransport upper = new TlsTransport();
    private final Object wrapLock = new Object();

    private volatile Transport backend;
    private volatile ScheduledFuture<?> deadline;
    /** Reader writes, any thread reads: the handshake is done (then {@link #identity} is set). */
    private volatile boolean handshakeDone;
    /** The engine was opened (reader, after the handshake): its frames may be wrapped and delivered. */
    private volatile boolean engineOpen;
    /** The engine asked for reading off (its last call to setReadSuspended). */
    private volatile boolean engineReadOff;
    /** A close was asked (by the engine, a failure or the deadline): nothing more is delivered. */
    private volatile boolean closing;
    /** TLS failed: the alert is queued, no close_notify follows. */
    private volatile boolean failed;
    private volatile TlsIdentity identity;
    /**
     * The session's packet buffer size, read once the handshake is done (the reader writes it before
     * {@link #handshakeDone}); 0 before: {@link #packetSize()} then asks the session. Saves the JDK's session
     * lock on every flush.
     */
    private volatile int packetSize;
    /** Client: the handshake is done, libvirt's confirmation byte has not arrived yet (reader). */
    private boolean awaitingConfirmation;

    // reader
    private PooledBuffer netIn;
    private ByteBuffer in;
    private PooledBuffer staged;
    private ByteBuffer st;
    private boolean inputDone;
    private boolean finishedSeen;
    private long cipherBytesIn;
    /** Reader, server: the peer's first record was looked at (a TLS handshake record, or the peer is refused). */
    private boolean firstRecordChecked;

    // writer
    private PooledBuffer netOut;
    private ByteBuffer out;
    private final ByteBuffer[] plain = new ByteBuffer[64];
    /** A {@link CipherScratch} buffer held for one {@link #gatherOutbound} pass, or null. */
    private ByteBuffer sealScratch;
    /** Pooled, held for one {@link #gatherOutbound} pass, or null: small frames copied into one record's plaintext. */
    private PooledBuffer coalesced;
    private boolean closeNotifyWrapped;

    // under wrapLock
    private PooledBuffer control;
    private ByteBuffer ctl;

    /**
     * @param engine           the connection's engine, opened once the handshake is done
     * @param options          certificates, trust, client authentication
     * @param client           this side connects (verifies the server's host name)
     * @param peerHost         the host connected to (client; null when unknown: no host name to verify)
     * @param peerPort         its port (client; a session cache key)
     * @param pool             where the buffers come from
     * @param timer            runs the handshake deadline
     * @param failedBeforeOpen told (on the thread that closes) when the connection closes before the engine
     *                         opened (a failed or timed-out handshake), or null
     */
    public TlsConnection(final ConnectionEngine engine, final TlsOptions options, final boolean client,
                         final String peerHost, final int peerPort, final BufferPool pool,
                         final ScheduledExecutorService timer,
                         final Consumer<ConnectionClosedException> failedBeforeOpen) {
        this.engine = engine;
        this.options = options;
        this.client = client;
        this.pool = pool;
        this.timer = timer;
        this.failedBeforeOpen = failedBeforeOpen;
        this.ssl = newEngine(options, client, peerHost, peerPort);
        this.heapCipher = ssl.getClass().getName().startsWith("sun.security.ssl.");
    }

    private static SSLEngine newEngine(final TlsOptions o, final boolean client, final String host, final int port) {
        final String name = o.serverName() != null ? o.serverName() : host;
        final SSLEngine e = o.engineFactory().create(client, client ? name : null, client ? port : -1);
        e.setUseClientMode(client);
        final SSLParameters p = e.getSSLParameters();
        final List<String> supported = List.of(e.getSupportedProtocols());
        final List<String> protocols = new ArrayList<>();
        for (String proto : o.protocols()) {
            if (supported.contains(proto)) {
                protocols.add(proto);
            }
        }
        if (protocols.isEmpty()) {
            throw new dev.braid.BraidException(dev.braid.BraidException.Category.CONFIG, "none of the TLS "
                    + "protocols " + o.protocols() + " is supported by this JDK (" + supported + ")");
        }
        p.setProtocols(protocols.toArray(String[]::new));
        if (client) {
            if (o.verifyHostname()) {
                if (name == null) {
                    throw new dev.braid.BraidException(dev.braid.BraidException.Category.CONFIG, "TLS host name "
                            + "verification needs a host name: this connection has none (a Unix domain socket?); "
                            + "set TlsOptions.serverName or turn verification off");
                }
                p.setEndpointIdentificationAlgorithm("HTTPS");
            }
            if (o.serverName() != null && !isIpLiteral(o.serverName())) {
                p.setServerNames(List.of(new SNIHostName(o.serverName())));
            }
        } else {
            switch (o.clientAuth()) {
                case REQUIRED -> p.setNeedClientAuth(true);
                case OPTIONAL -> p.setWantClientAuth(true);
                case NONE -> {
                }
            }
        }
        e.setSSLParameters(p);
        return e;
    }

    private static boolean isIpLiteral(final String s) {
        return s.indexOf(':') >= 0 || s.chars().allMatch(c -> c == '.' || Character.isDigit(c));
    }

    /** {@return the most one TLS record takes on the wire} Any thread. */
    private int packetSize() {
        final int p = packetSize;
        return p != 0 ? p : ssl.getSession().getPacketBufferSize();
    }

    /** {@return the peer's identity once the handshake is done, else null} Any thread. */
    public TlsIdentity identity() {
        return identity;
    }

    // ------------------------------------------------------------------ reader context

    @Override
    public void onOpen(final Transport transport) {
        backend = transport;
        engine.preOpen(upper);
        netIn = pool.acquire(ssl.getSession().getPacketBufferSize());
        in = netIn.byteBuffer();
        in.clear();
        if (!engine.admitBeforeOpen(upper)) {
            return; // refused by a connection bound (server): closing, no handshake spent on it
        }
        final long millis = options.handshakeTimeout().toMillis();
        deadline = timer.schedule(() -> handshakeTimedOut(millis), millis, TimeUnit.MILLISECONDS);
        try {
            ssl.beginHandshake();
            advanceHandshake();
        } catch (SSLException | RuntimeException e) {
            fail(e);
        }
    }

    @Override
    public ByteBuffer inboundBuffer() {
        return in;
    }

    @Override
    public void onInbound(final int bytes) {
        cipherBytesIn += bytes;
        final boolean filled = bytes > 0 && !in.hasRemaining();
        try {
            if (bytes == 0 && engineOpen && !closing) {
                engine.onInbound(0); // the resume promise, passed on
            }
            processInput();
            if (filled && engineOpen && !closing && !failed && netIn != null
                    && in.capacity() < BUSY_NET_IN_PACKETS * packetSize()) {
                growInput(BUSY_NET_IN_PACKETS * packetSize());
            }
        } catch (SSLException | RuntimeException e) {
            fail(e);
        }
    }

    /** Unwraps what {@code in} holds, handing plaintext to the engine, until it pauses or bytes run out. */
    private void processInput() throws SSLException {
        if (inputDone || closing || failed || (st != null && !deliverStaged())) {
            return;
        }
        in.flip();
        ByteBuffer scratch = null;
        try {
            while (!inputDone && !closing && !failed && in.hasRemaining() && !(engineOpen && engineReadOff)) {
                if (st != null && !deliverStaged()) {
                    break; // the engine paused (or, before it opened, plaintext waits for it)
                }
                ByteBuffer dst;
                boolean direct = engineOpen;
                dst = direct ? engine.inboundBuffer() : stage();
                ByteBuffer src = in;
                if (!client && !firstRecordChecked && in.hasRemaining()) {
                    firstRecordChecked = true;
                    if (in.get(in.position()) != HANDSHAKE_RECORD) {
                        throw new NotTlsException(); // checked here, so every engine says the same, at once
                    }
                }
                final int record = handshakeDone ? wholeRecordAt(in) : 0;
                if (heapCipher && record >= CipherScratch.MIN_RECORD) {
                    // a large record is opened in a heap buffer, where the JDK's AES-GCM is fastest (CipherScratch)
                    if (scratch == null || scratch.capacity() < record) {
                        CipherScratch.give(scratch);
                        scratch = CipherScratch.take(Math.max(record, packetSize()));
                    }
                    scratch.clear();
                    scratch.put(0, in, in.position(), record).limit(record);
                    src = scratch;
                }
                SSLEngineResult r = ssl.unwrap(src, dst);
                mayAdvance = !handshakeDone && r.bytesConsumed() > 0;
                if (r.getStatus() == Status.BUFFER_OVERFLOW && direct) {
                    direct = false; // the engine's buffer has less room than this record: stage it
                    dst = stage();
                    r = ssl.unwrap(src, dst);
                }
                if (src != in) {
                    in.position(in.position() + r.bytesConsumed());
                }
                if (!direct) {
                    st.flip();
                    if (awaitingConfirmation && st.hasRemaining()) {
                        confirmed(st.get());
                    }
                    if (!st.hasRemaining()) {
                        releaseStaged();
                    }
                }
                if (r.getStatus() == Status.BUFFER_OVERFLOW) {
                    throw new SSLException("a TLS record's plaintext does not fit " + dst.remaining()
                            + " bytes (application buffer " + ssl.getSession().getApplicationBufferSize() + ")");
                }
                if (r.getStatus() == Status.BUFFER_UNDERFLOW) {
                    growInputIfNeeded();
                    break; // the rest of the record has not arrived
                }
                if (r.getHandshakeStatus() == HandshakeStatus.FINISHED) {
                    finishedSeen = true;
                }
                if (!handshakeDone || r.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING) {
                    if (handshakeDone && !"TLSv1.3".equals(ssl.getSession().getProtocol())) {
                        throw new SSLException("TLS renegotiation refused: the peer started a new " + ssl.getSession()
                                .getProtocol() + " handshake on an established connection (braid never renegotiates)");
                    }
                    advanceHandshake(); // (an application record of an established session needs none of it)
                }
                if (awaitingConfirmation && st != null && st.hasRemaining()) {
                    // an engine that reports the handshake's end only with the first application record
                    // (OpenSSL's, TLS 1.2: FINISHED on the unwrap that produced the confirmation byte)
                    confirmed(st.get());
                    if (!st.hasRemaining()) {
                        releaseStaged();
                    }
                }
                if (direct && r.bytesProduced() > 0) {
                    engine.onInbound(r.bytesProduced());
                } else if (st != null && engineOpen && !deliverStaged()) {
                    break;
                }
                if (r.getStatus() == Status.CLOSED) {
                    peerClosed();
                    break;
                }
                if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) {
                    break; // no progress possible without more bytes (or the writer)
                }
            }
        } finally {
            in.compact();
            CipherScratch.give(scratch);
        }
    }

    /**
     * {@return the length (header included) of the whole TLS record at {@code b}'s position, or 0 if it has
     * not all arrived} {@code b} is in read mode and is not moved.
     */
    private static int wholeRecordAt(final ByteBuffer b) {
        final int p = b.position();
        if (b.limit() - p < RECORD_HEADER) {
            return 0;
        }
        final int length = RECORD_HEADER + (((b.get(p + 3) & 0xff) << 8) | (b.get(p + 4) & 0xff));
        return length <= b.limit() - p ? length : 0;
    }

    /** The staging buffer, empty, in fill mode. */
    private ByteBuffer stage() {
        if (staged == null) {
            staged = pool.acquire(ssl.getSession().getApplicationBufferSize());
            st = staged.byteBuffer();
        }
        st.clear();
        return st;
    }

    private void releaseStaged() {
        if (staged != null) {
            staged.release();
            staged = null;
            st = null;
        }
    }

    /** Copies staged plaintext into the engine's buffer while it reads; false if some is left (paused). */
    private boolean deliverStaged() {
        if (!engineOpen) {
            return st == null || !st.hasRemaining(); // kept until the engine opens
        }
        while (st != null && st.hasRemaining()) {
            if (engineReadOff || closing) {
                return false;
            }
            final ByteBuffer dst = engine.inboundBuffer();
            final int k = Math.min(dst.remaining(), st.remaining());
            dst.put(dst.position(), st, st.position(), k);
            dst.position(dst.position() + k);
            st.position(st.position() + k);
            engine.onInbound(k);
        }
        releaseStaged();
        return true;
    }

    /** {@code in} (read mode) is full with one incomplete record: a larger packet size was negotiated. */
    private void growInputIfNeeded() throws SSLException {
        if (in.position() != 0 || in.limit() != in.capacity()) {
            return; // there is room after compacting
        }
        final int need = ssl.getSession().getPacketBufferSize();
        if (need <= in.capacity()) {
            throw new SSLException("a TLS record is larger than the " + in.capacity() + "-byte packet buffer");
        }
        netIn = moveTo(need, in, netIn);
        in = netIn.byteBuffer().flip();
    }

    /**
     * Reader, between reads ({@code in} in fill mode): a read filled {@code netIn}, so the peer sends faster
     * than one buffer per read: a larger one (kept for the connection's life) lets each read take several
     * records, fewer system calls and wake-ups per byte. An idle or quiet connection never grows.
     */
    private void growInput(final int capacity) {
        netIn = moveTo(capacity, in.flip(), netIn);
        in = netIn.byteBuffer();
    }

    /**
     * A pooled buffer of {@code capacity} holding {@code readable}'s remaining bytes (its byte buffer in fill
     * mode, after them); releases {@code old}, which {@code readable} belongs to.
     */
    private PooledBuffer moveTo(final int capacity, final ByteBuffer readable, final PooledBuffer old) {
        final PooledBuffer bigger = pool.acquire(capacity);
        bigger.byteBuffer().clear().put(readable);
        old.release();
        return bigger;
    }

    /** Reader: during the handshake, tasks ran or an unwrap took bytes since the last unwrap of nothing (advanceHandshake). */
    private boolean mayAdvance;

    /** Runs the handshake's tasks and wraps what it must send, until it waits for the peer. Reader. */
    private void advanceHandshake() throws SSLException {
        while (true) {
            final HandshakeStatus hs = ssl.getHandshakeStatus();
            if (hs == HandshakeStatus.NEED_TASK) {
                Runnable task;
                while ((task = ssl.getDelegatedTask()) != null) {
                    task.run(); // inline: certificate checks and key exchange, once per handshake
                }
                mayAdvance = true;
            } else if (hs == HandshakeStatus.NEED_UNWRAP && mayAdvance && (st == null || !st.hasRemaining())) {
                // OpenSSL's engine (Netty's) moves its handshake on only at the start of a wrap or unwrap: after
                // its tasks (a certificate check), or after the unwrap that took the peer's last handshake
                // record, it still says NEED_UNWRAP though it holds all it needs, and the peer waits for its
                // answer. An unwrap of nothing lets it go on; the JDK's answers BUFFER_UNDERFLOW, changing nothing.
                mayAdvance = false;
                final SSLEngineResult r = ssl.unwrap(EMPTY, stage());
                st.flip();
                if (!st.hasRemaining()) {
                    releaseStaged();
                }
                if (r.getHandshakeStatus() == HandshakeStatus.FINISHED) {
                    finishedSeen = true;
                }
            } else if (hs == HandshakeStatus.NEED_WRAP) {
                wrapControl();
            } else {
                if (!handshakeDone && (finishedSeen || hs == HandshakeStatus.NOT_HANDSHAKING)
                        && negotiated() && !closing && !failed) {
                    handshakeFinished();
                }
                return;
            }
        }
    }

    /**
     * Whether the session has a cipher suite: a handshake really completed. (Not {@code SSLSession.isValid()},
     * which says whether the session may be resumed: OpenSSL's engine answers false for a session that is
     * not in its cache, a full cache under many handshakes at once, and the client then waited for ever.)
     */
    private boolean negotiated() {
        return !"SSL_NULL_WITH_NULL_NULL".equals(ssl.getSession().getCipherSuite());
    }

    /** Under wrapLock: {@code control} exists and has room for one more packet (within the bound). */
    private void ensureControlRoom() throws SSLException {
        final int packet = ssl.getSession().getPacketBufferSize();
        if (control == null) {
            control = pool.acquire(2 * packet);
            ctl = control.byteBuffer();
            ctl.clear();
        } else if (ctl.remaining() < packet) {
            final int need = ctl.position() + packet;
            if (need > MAX_CONTROL_BYTES) {
                throw new SSLException("TLS control records waiting to be sent exceed " + MAX_CONTROL_BYTES
                        + " bytes (the peer does not read what this side must answer)");
            }
            control = moveTo(need, ctl.flip(), control);
            ctl = control.byteBuffer();
        }
    }

    /** Reader (or a failure on any context): wraps what the SSLEngine must send into {@code control}. */
    private void wrapControl() throws SSLException {
        synchronized (wrapLock) {
            while (true) {
                ensureControlRoom();
                final SSLEngineResult r = ssl.wrap(EMPTY, ctl);
                if (r.getHandshakeStatus() == HandshakeStatus.FINISHED) {
                    finishedSeen = true;
                }
                if (r.getStatus() == Status.BUFFER_OVERFLOW) {
                    continue; // grows above
                }
                if (r.getStatus() == Status.CLOSED || r.bytesProduced() == 0
                        || r.getHandshakeStatus() != HandshakeStatus.NEED_WRAP) {
                    break;
                }
            }
        }
        final Transport t = backend;
        if (t != null) {
            t.requestFlush();
        }
    }

    /**
     * Reader: the handshake is done. A server sends libvirt's confirmation byte and opens the engine; a
     * client waits for that byte first ({@link #confirmed}).
     */
    private void handshakeFinished() throws SSLException {
        packetSize = ssl.getSession().getPacketBufferSize();
        handshakeDone = true;
        identity = identityOf(ssl.getSession());
        if (client) {
            awaitingConfirmation = true;
            return;
        }
        synchronized (wrapLock) {
            ensureControlRoom();
            ssl.wrap(ByteBuffer.wrap(new byte[]{CONFIRMATION}), ctl); // before any frame: the writer drains control first
        }
        openEngine();
    }

    /** Reader, client: the server's first byte of plaintext. */
    private void confirmed(final byte b) throws SSLException {
        if (b != CONFIRMATION) {
            throw new SSLException("the server refused this client after the TLS handshake (libvirt's confirmation "
                    + "byte was " + b + ", not " + CONFIRMATION + "): server verification of this client's "
                    + "certificate or address failed");
        }
        awaitingConfirmation = false;
        openEngine();
    }

    /** Reader: the engine may now read and write plaintext. */
    private void openEngine() {
        final ScheduledFuture<?> d = deadline;
        if (d != null) {
            d.cancel(false);
        }
        engineOpen = true;
        engine.onOpen(upper);
        backend.requestFlush(); // libvirt's confirmation (server) and what the engine queued while opening
    }

    private static TlsIdentity identityOf(final SSLSession s) {
        List<X509Certificate> peer = List.of();
        java.security.Principal principal = null;
        try {
            peer = x509(s.getPeerCertificates());
            principal = s.getPeerPrincipal();
        } catch (SSLPeerUnverifiedException e) {
            // no certificate from the peer (a client where client certificates are optional)
        }
        final Certificate[] local = s.getLocalCertificates();
        return new TlsIdentity(s.getProtocol(), s.getCipherSuite(), peer, principal,
                local == null ? List.of() : x509(local));
    }

    private static List<X509Certificate> x509(final Certificate[] certs) {
        final List<X509Certificate> out = new ArrayList<>(certs.length);
        for (Certificate c : certs) {
            if (c instanceof X509Certificate x) {
                out.add(x);
            }
        }
        return out;
    }

    /** Reader: the peer sent close_notify: that is the engine's end of stream. */
    private void peerClosed() {
        inputDone = true;
        if (engineOpen) {
            engine.onInputClosed(); // closes the transport; our close_notify answers in the last flush
        } else {
            close(new ConnectionClosedException(Reason.TLS_FAILED, "the peer closed the TLS session during the "
                    + "handshake with " + remote(), null));
        }
    }

    @Override
    public void onInputClosed() {
        if (inputDone || failed || closing) {
            return;
        }
        inputDone = true;
        if (handshakeDone && !engineOpen) {
            close(new ConnectionClosedException(Reason.TLS_FAILED, "TLS with " + remote() + " failed: the server "
                    + "closed the connection right after the handshake, without confirming it (libvirt's "
                    + "confirmation byte): it refused this client's certificate or address", null));
        } else if (!handshakeDone) {
            close(new ConnectionClosedException(Reason.TLS_FAILED, "TLS handshake with " + remote() + " failed: "
                    + "the peer closed the connection " + (cipherBytesIn == 0 ? "without sending anything (does it "
                    + "speak TLS? did it refuse this side's certificate or protocol?)" : "in the middle of the handshake"),
                    null));
        } else {
            close(new ConnectionClosedException(Reason.TLS_TRUNCATED, String.valueOf(remote()), null));
        }
    }

    // ------------------------------------------------------------------ writer context

    @Override
    public int gatherOutbound(final ByteBuffer[] dst) {
        if (out != null && out.hasRemaining()) {
            dst[0] = out;
            return 1;
        }
        try {
            synchronized (wrapLock) {
                if (out == null) {
                    netOut = pool.acquire(RECORDS_PER_WRITE * packetSize());
                    out = netOut.byteBuffer();
                }
                out.clear();
                try {
                    if (drainControl() && !failed) {
                        if (engineOpen && !closeNotifyWrapped) {
                            if (wrapApplicationData() && closing) {
                                wrapCloseNotify();
                            }
                        } else if (closing && !closeNotifyWrapped) {
                            wrapCloseNotify();
                        }
                    }
                } finally {
                    out.flip();
                    CipherScratch.give(sealScratch);
                    sealScratch = null;
                    if (coalesced != null) {
                        coalesced.release();
                        coalesced = null;
                    }
                }
            }
        } catch (SSLException | RuntimeException e) {
            fail(e);
        }
        if (out == null) {
            return 0; // failed before a buffer was taken
        }
        if (!out.hasRemaining()) {
            netOut.release();
            netOut = null;
            out = null;
            return 0;
        }
        dst[0] = out;
        return 1;
    }

    /** Under wrapLock: moves control records into {@code out}; true if none is left. */
    private boolean drainControl() {
        if (control == null) {
            return true;
        }
        ctl.flip();
        final int k = Math.min(out.remaining(), ctl.remaining());
        out.put(out.position(), ctl, ctl.position(), k);
        out.position(out.position() + k);
        ctl.position(ctl.position() + k);
        ctl.compact();
        if (ctl.position() == 0) {
            control.release();
            control = null;
            ctl = null;
            return true;
        }
        return false;
    }

    /**
     * Under wrapLock: wraps the engine's frames into {@code out} while a whole record fits. Returns true
     * when the engine has nothing more.
     */
    private boolean wrapApplicationData() throws SSLException {
        final int packet = packetSize();
        while (out.remaining() >= packet) {
            final int n = engine.gatherOutbound(plain);
            if (n == 0) {
                return true;
            }
            long consumed = 0;
            long left = 0;
            for (int k = 0; k < n; k++) {
                left += plain[k].remaining();
            }
            int i = 0;
            try {
                while (out.remaining() >= packet) {
                    while (i < n && !plain[i].hasRemaining()) {
                        i++;
                    }
                    if (i == n) {
                        break;
                    }
                    final SSLEngineResult r;
                    if (heapCipher && left >= CipherScratch.MIN_RECORD) {
                        // a large record is sealed in a heap buffer, where the JDK's AES-GCM is fastest, then copied
                        if (sealScratch == null) {
                            sealScratch = CipherScratch.take(packet);
                        }
                        r = ssl.wrap(plain, i, n - i, sealScratch.clear());
                        out.put(sealScratch.flip());
                    } else if (!heapCipher && i + 1 < n && plain[i].remaining() < MAX_PLAINTEXT) {
                        r = wrapCoalesced(i, n);
                    } else {
                        r = ssl.wrap(plain, i, n - i, out);
                    }
                    consumed += r.bytesConsumed();
                    left -= r.bytesConsumed();
                    if (r.getStatus() != Status.OK || (r.bytesConsumed() == 0 && r.bytesProduced() == 0)) {
                        break;
                    }
                    if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                        Runnable task;
                        while ((task = ssl.getDelegatedTask()) != null) {
                            task.run();
                        }
                    }
                }
            } finally {
                Arrays.fill(plain, 0, n, null);
                engine.onOutboundWritten(consumed); // releases the frames wrapped whole: none touched after
            }
            if (i < n) {
                return false; // out is full: the rest of the batch comes first next time
            }
        }
        return false;
    }

    /**
     * Under wrapLock (engines other than the JDK's): seals {@code plain[from..n)}'s first {@link #MAX_PLAINTEXT}
     * bytes as one record, copied into {@link #coalesced} first, then moves the sources on by what the engine
     * took (all of it, unless {@code out} had no room: then nothing).
     */
    private SSLEngineResult wrapCoalesced(final int from, final int n) throws SSLException {
        if (coalesced == null) {
            coalesced = pool.acquire(MAX_PLAINTEXT);
        }
        final ByteBuffer c = coalesced.byteBuffer().clear().limit(MAX_PLAINTEXT);
        for (int k = from; k < n && c.hasRemaining(); k++) {
            final ByteBuffer p = plain[k];
            final int len = Math.min(c.remaining(), p.remaining());
            c.put(c.position(), p, p.position(), len);
            c.position(c.position() + len);
        }
        final SSLEngineResult r = ssl.wrap(c.flip(), out);
        int done = r.bytesConsumed();
        for (int k = from; k < n && done > 0; k++) {
            final ByteBuffer p = plain[k];
            final int len = Math.min(done, p.remaining());
            p.position(p.position() + len);
            done -= len;
        }
        return r;
    }

    /** Under wrapLock: the close_notify, once, after the engine's last frames. */
    private void wrapCloseNotify() throws SSLException {
        closeNotifyWrapped = true;
        ssl.closeOutbound();
        while (out.remaining() > 0) {
            final SSLEngineResult r = ssl.wrap(EMPTY, out);
            if (r.bytesProduced() == 0 || r.getStatus() != Status.OK) {
                break;
            }
        }
    }

    @Override
    public void onOutboundWritten(final long bytes) {
        // out's position moved: what is left is returned first by the next gather
    }

    // ------------------------------------------------------------------ closing

    @Override
    public void onClosed(final Throwable reason) {
        final ScheduledFuture<?> d = deadline;
        if (d != null) {
            d.cancel(false);
        }
        if (netIn != null) {
            netIn.release();
            netIn = null;
        }
        releaseStaged();
        if (netOut != null) {
            netOut.release();
            netOut = null;
            out = null;
        }
        synchronized (wrapLock) {
            if (control != null) {
                control.release();
                control = null;
            }
            ssl.closeOutbound(); // both directions closed: an engine holding native state (OpenSSL) frees it now
        }
        try {
            ssl.closeInbound();
        } catch (SSLException e) {
            // without the peer's close_notify: the close was already reported with its reason
        }
        options.engineFactory().released(ssl);
        if (!engineOpen && failedBeforeOpen != null) {
            failedBeforeOpen.accept(reason instanceof ConnectionClosedException c ? c
                    : new ConnectionClosedException(Reason.RESET, String.valueOf(reason), reason));
        }
        engine.onClosed(reason);
    }

    /** A TLS failure on any context: the alert the JDK queued goes out in the last flush; then the close. */
    private void fail(final Exception e) {
        if (failed) {
            return;
        }
        failed = true;
        final String what = (handshakeDone ? "TLS with " : "TLS handshake with ") + remote() + " failed: ";
        final ConnectionClosedException reason = e instanceof SSLException s
                ? new ConnectionClosedException(Reason.TLS_FAILED, what + TlsErrors.explain(s, client), e)
                : new ConnectionClosedException(Reason.INTERNAL_ERROR, what + e, e);
        try {
            if (e instanceof NotTlsException) {
                queuePlainAlert(); // the engine saw nothing: a TLS alert tells a plaintext peer what it met
            } else {
                wrapControl(); // the fatal alert, when the engine queued one
            }
        } catch (SSLException | RuntimeException ignored) {
            // closing anyway
        }
        close(reason);
    }

    /** A fatal unexpected_message alert in a plaintext TLS record (no keys exist yet), as the JDK's engine sends. */
    private void queuePlainAlert() throws SSLException {
        synchronized (wrapLock) {
            ensureControlRoom();
            ctl.put(new byte[]{ALERT_RECORD, 3, 3, 0, 2, 2 /* fatal */, 10 /* unexpected_message */});
        }
        final Transport t = backend;
        if (t != null) {
            t.requestFlush();
        }
    }

    /**
     * A server's first record is not a TLS handshake record: the peer speaks something else (plaintext braid,
     * HTTP, garbage). Named in the words {@link TlsErrors} maps to "does not speak TLS".
     */
    private static final class NotTlsException extends SSLException {
        private static final long serialVersionUID = 1L;

        NotTlsException() {
            super("Unsupported or unrecognized SSL message: the first record is not a TLS handshake record");
        }
    }

    private void handshakeTimedOut(final long millis) {
        if (!handshakeDone) {
            close(new ConnectionClosedException(Reason.TLS_FAILED, "TLS handshake with " + remote()
                    + " did not complete within " + millis + " ms (handshakeTimeout)", null));
        }
    }

    private void close(final ConnectionClosedException reason) {
        closing = true;
        final Transport t = backend;
        if (t != null) {
            t.close(reason);
        }
    }

    /** {@return the peer's address, or null before the connection opened} Any thread. */
    public SocketAddress remoteAddress() {
        return remote();
    }

    private SocketAddress remote() {
        final Transport t = backend;
        return t == null ? null : t.remoteAddress();
    }

    /**
     * The engine's transport: the backend's, with TLS in between. Any thread, as {@link Transport} says;
     * every call passes through to the backend after noting what TLS needs to know (reading off, closing).
     */
    public final class TlsTransport implements Transport {
        private TlsTransport() {
        }

        /** {@return the peer's identity (the handshake is done whenever the engine can ask)} */
        public TlsIdentity identity() {
            return identity;
        }

        @Override
        public void requestFlush() {
            backend.requestFlush();
        }

        @Override
        public void requestUrgentFlush() {
            backend.requestUrgentFlush();
        }

        @Override
        public void setReadSuspended(final boolean suspended) {
            engineReadOff = suspended; // read by the reader between records: no plaintext is handed over after "off"
            backend.setReadSuspended(suspended);
        }

        @Override
        public void execute(final Runnable task) {
            backend.execute(task);
        }

        @Override
        public void close(final Throwable reason) {
            closing = true;
            backend.close(reason);
        }

        @Override
        public SocketAddress localAddress() {
            return backend.localAddress();
        }

        @Override
        public SocketAddress remoteAddress() {
            return backend.remoteAddress();
        }

        @Override
        public String backendName() {
            return backend.backendName();
        }
    }
}
