package dev.braid.spi;

import java.net.SocketAddress;

/**
 * A connection's socket as the engine sees it. Implemented by backends, called by the engine.
 *
 * <p>Every method may be called from any thread. None of them calls the {@link ConnectionHandler} on the
 * calling thread from inside the call, except {@link #requestUrgentFlush()} (which may run the writer
 * context's {@code gatherOutbound} / {@code onOutboundWritten} there, see its comment).
 */
public interface Transport {

    /**
     * There is outbound data. The backend will call {@link ConnectionHandler#gatherOutbound} on the
     * connection's writer thread soon. Cheap to call often; the engine already coalesces calls.
     */
    void requestFlush();

    /**
     * Like {@link #requestFlush()}, for a latency-sensitive frame on an otherwise quiet connection (a call
     * with no other call in flight, the answer to the only call being served). A backend may then write on
     * the calling thread ("write-through"), when that is cheaper than handing the write to its I/O thread,
     * provided it keeps {@link ConnectionHandler#gatherOutbound} and {@link ConnectionHandler#onOutboundWritten}
     * to one thread at a time, never blocks the caller on a full socket, and never writes into a descriptor
     * that may have been closed. The calling thread then runs the writer context for one short batch: what
     * {@code gatherOutbound} does (including any callback it makes) runs on it; an application thread is not
     * an I/O thread ({@link IoThreads#isIoThread()} is false there). A backend may also let one of its own
     * threads other than the writer write through (loom's reader writes the answer it just produced). nio and epoll write through, and so does loom from JDK 24
     * on (its socket is non-blocking there; on JDK 21-23 it is blocking, where an application thread could
     * block on a full socket and an interrupt during the write would close the channel, so loom hands the
     * write to its writer thread). The default is {@link #requestFlush()}.
     */
    default void requestUrgentFlush() {
        requestFlush();
    }

    /**
     * Turns reading off ({@code true}) or on ({@code false}): an idempotent switch, not a count. The engine
     * calls it on edges (off when its first reason to stop reading appears, on when the last one goes) and
     * keeps the reasons itself; the backend applies the last call it received, and repeating one changes
     * nothing. "Off" asked on the reader context takes effect at once (no further {@code onInbound(n)} with
     * bytes after it); asked from another thread it takes effect on the reader context soon, so a read that
     * was already under way may still be handed over. After "on", the backend calls
     * {@link ConnectionHandler#onInbound(int)} with 0 on the reader context before it reads again, so the
     * engine can decode what it had already received: always as a call of its own, never from inside another
     * handler call, and once per "on", even if the "off" before it came so close that reading never actually
     * stopped.
     *
     * @param suspended true: reading off; false: reading on
     */
    void setReadSuspended(boolean suspended);

    /**
     * Runs {@code task} soon in this connection's reader context, on one of the backend's I/O threads
     * ({@link IoThreads#isIoThread()} is true there). Any thread.
     * <ul>
     *   <li><b>Order.</b> Tasks handed over by one thread run in the order it handed them over; no two tasks
     *       of a connection run at once.</li>
     *   <li><b>Never inline.</b> The task never runs inside {@code execute}, even when it is called on the
     *       I/O thread from inside a handler call: it runs after that call returns, so it never re-enters
     *       the handler.</li>
     *   <li><b>Reader context.</b> It never overlaps {@code onOpen}, {@code onInbound} or
     *       {@code onInputClosed}. nio and epoll run it on the connection's event loop, which is also the
     *       writer context unless a thread is writing through; loom runs it on the writer thread while the
     *       reader waits in a read, or on the reader right after its current call. On loom it may therefore
     *       run while a read into the buffer {@link ConnectionHandler#inboundBuffer()} returned is under way:
     *       a task must leave that buffer alone.</li>
     *   <li><b>After the close.</b> A task handed over while the connection closes may run (possibly after
     *       {@link ConnectionHandler#onClosed}, finding it closed) or be dropped; one handed over once it is
     *       closed is dropped. A task must therefore not own resources that only it would release.</li>
     * </ul>
     *
     * @param task what to run on the I/O thread
     */
    void execute(Runnable task);

    /**
     * Closes the socket, never inline: the backend closes on its own threads, after a best-effort last flush
     * of what the engine already queued (unless {@code reason} is an I/O error). {@code reason} becomes the
     * argument of {@link ConnectionHandler#onClosed}; if the connection is already closing, the first reason
     * wins.
     *
     * @param reason why (becomes onClosed's argument unless another reason came first)
     */
    void close(Throwable reason);

    /**
     * Sets the socket's send buffer ({@code SO_SNDBUF}) to {@code bytes}, as window auto-tuning asks when the
     * peer's stream window grows or shrinks (docs/design.md, "Window auto-tuning"): room for a
     * bandwidth-delay product of data in flight. 0 leaves it alone. Any thread; the backend applies it on
     * its own thread soon, and a failure to apply it is not an error (the connection goes on with the old
     * size). The default does nothing (a backend that cannot change it).
     *
     * @param bytes the send buffer size in bytes, or 0 to leave it
     */
    default void setSocketSendBuffer(final int bytes) {
    }

    /** {@return this side's socket address} */
    SocketAddress localAddress();

    /** {@return the peer's socket address} */
    SocketAddress remoteAddress();

    /**
     * Name of the backend, for diagnostics.
     *
     * @return the name
     */
    String backendName();
}
