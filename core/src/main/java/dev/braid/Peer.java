package dev.braid;

import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * One side of a braid connection: what both a client's {@link Connection} and a server's view of a
 * connected client can do. Thread-safe.
 */
public interface Peer extends AutoCloseable {

    /**
     * Sends an event (a libvirt MESSAGE with serial 0) to the other side. Never blocks.
     *
     * @param procedure the event procedure
     * @param payload the payload; its remaining bytes are copied, the position is left alone
     * @throws LimitExceededException    if the payload is larger than the negotiated maximum message, or if
     *                                   {@link BraidConfig#maxQueuedEventBytes()} bytes already wait to be
     *                                   sent (the peer is not reading)
     * @throws ConnectionClosedException if the connection is closed
     */
    void sendEvent(Procedure procedure, ByteBuffer payload);

    /**
     * Sends an event whose {@code length} payload bytes {@code writer} writes straight into the frame.
     *
     * @param procedure the event procedure
     * @param length the exact payload length
     * @param writer writes exactly {@code length} bytes into the frame
     */
    void sendEvent(Procedure procedure, int length, PayloadWriter writer);

    /**
     * Sends an event whose payload is {@code value} encoded by {@code marshaller} straight into the frame.
     *
     * @param <T> the value's type
     * @param procedure the event procedure
     * @param marshaller encodes the value
     * @param value the event's value
     */
    <T> void sendEvent(Procedure procedure, Marshaller<T> marshaller, T value);

    /**
     * The TLS session's identity and parameters (the peer's certificate chain and principal, the protocol
     * and cipher suite), or empty on a plaintext connection. Handlers and a client's connection always see
     * the handshake done.
     *
     * @return the identity, or empty without TLS
     */
    java.util.Optional<TlsIdentity> tls();

    /** {@return the other side's socket address} */
    SocketAddress remoteAddress();

    /** {@return this side's socket address} */
    SocketAddress localAddress();

    /** {@return whether the connection is open (false once it closes, for whatever reason)} */
    boolean isOpen();

    /**
     * Completes when the connection is closed, with the reason (a {@link ConnectionClosedException}).
     *
     * @return the future
     */
    CompletableFuture<ConnectionClosedException> closeFuture();

    /** {@return the connection's counters so far} */
    ConnectionStats stats();

    /**
     * A snapshot of the streams open on this connection now, one entry each, in no particular order (what
     * {@code braid stat} shows). Any thread; builds a new list each time.
     *
     * @return the open streams' counters
     */
    java.util.List<StreamStats> streams();

    /**
     * Name of the backend that carries this connection.
     *
     * @return the name
     */
    String backendName();

    /**
     * Graceful close: no new calls start; calls in flight get up to {@link BraidConfig#closeTimeout()} to
     * finish; then the socket closes and whatever is still pending fails with reason LOCAL_CLOSE. Blocks
     * until closed.
     */
    @Override
    void close();

    /** Immediate close: every pending call fails at once with reason LOCAL_CLOSE. Does not block. */
    void abort();
}
