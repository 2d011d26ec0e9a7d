package dev.braid;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A data stream riding on a connection, libvirt-style: opened by a call on a stream procedure, named by that
 * call's (program, version, procedure, serial), data in STREAM packets, ended by the finish handshake or by
 * an abort. Both sides may write and read: an upload writes on the client, a download on the server, a
 * console on both. One stream per call (libvirt's rule).
 *
 * <h2>Threads</h2>
 * One thread at a time may write (write, tryWrite, the zero-copy writes, sendHole, closeWrite, the output
 * adapters) and one thread at a time may read (read, tryRead, readPacket, tryReadPacket, the input
 * adapters); they may be different threads. The write side and the I/O thread share a lock-free
 * single-producer single-consumer ring; the I/O thread and the read side share a lock-free queue.
 * {@link #abort}, {@link #isOpen()}, {@link #openingReply()} and the counters may be called from any thread.
 * {@link #finish()} and {@link #finishAsync()} from the writing thread, which gives up writing by calling them.
 * Blocking methods refuse to run on braid's I/O threads when they would have to wait
 * ({@link BlockingOperationException}); the non-blocking ones (tryWrite, tryRead, tryReadPacket, finishAsync,
 * abort) are what a {@link StreamListener} or a {@link HandlerMode#NON_BLOCKING} handler uses.
 *
 * <h2>Ending: finish, half-close, results</h2>
 * {@link #finish()} is libvirt's round trip: this side's end after its data, then the peer's OK, so an error
 * the peer raised on the way is thrown there. {@link #closeWrite()} ends only this side's data (EOF) and
 * keeps the stream readable until the peer's EOF: a client can upload, half-close, and read the server's
 * answer to the end before it finishes. The server's finish may carry a result ({@link #finish(ByteBuffer)},
 * {@link #finish(Marshaller, Object)}), which the client's finish returns ({@link #finish(Marshaller)},
 * {@link #finishAsync()}). docs/protocol.md §10 maps all of it onto libvirt's wire.
 *
 * <h2>Flow control</h2>
 * With braid's extensions negotiated, each direction has a byte window: the sender never has more than the
 * window in flight unconsumed at the receiver, and the receiver returns credit as the application reads. A
 * slow reader stalls only its own stream. In libvirt-compatible mode a stream whose receive queue is full
 * stops the connection's reads, as libvirt does.
 */
public interface BraidStream extends AutoCloseable {

    /** {@link #tryWrite} and {@link #tryRead} result: nothing could be done now; wait for readiness. */
    int WOULD_BLOCK = 0;
    /** {@link #read} / {@link #tryRead} result at the end of the stream. */
    int EOF = -1;

    /** {@return the procedure whose call opened the stream} */
    Procedure procedure();

    /**
     * Serial of the call that opened the stream: the stream's name on the wire.
     *
     * @return the serial
     */
    int serial();

    // ------------------------------------------------------------------ writing

    /**
     * Sends {@code src}'s remaining bytes, blocking while the stream's send ring is full (the peer reads
     * slowly or its window is exhausted). Bytes are copied once, into pooled packets.
     *
     * @param src the bytes to send; its position advances past them
     * @throws BraidException if the stream was aborted (by either side; the message says why) or its
     *                        connection closed
     */
    void write(ByteBuffer src);

    /**
     * Sends {@code len} bytes of {@code b} from {@code off}, like {@link #write(ByteBuffer)}.
     *
     * @param b the bytes
     * @param off where they start
     * @param len how many
     */
    void write(byte[] b, int off, int len);

    /**
     * Sends as many of {@code src}'s remaining bytes as fit without blocking; returns how many (0 =
     * {@link #WOULD_BLOCK}: wait for {@link StreamListener#onWritable}).
     *
     * @param src the bytes to send; its position advances past those taken
     * @return how many bytes were taken
     */
    int tryWrite(ByteBuffer src);

    /**
     * Zero copy: claims a packet of {@code length} payload bytes ({@code 1 ..} {@link #maxPacketSize()}), lets
     * {@code writer} fill it in place, and queues it. Blocks like {@link #write}.
     *
     * @param length the packet payload length
     * @param writer writes exactly {@code length} bytes into the packet
     * @throws LimitExceededException ({@code maxStreamPacket}, the maximum) if {@code length} is larger than
     *                                one packet may be; {@link #write(ByteBuffer)} splits
     */
    void write(int length, PayloadWriter writer);

    /**
     * Zero copy of a buffer the caller owns: sends {@code src}'s remaining bytes as they are (packets whose
     * payload is a slice of {@code src}, no copy), advancing its position, and calls {@code onRelease} once
     * braid no longer needs the memory: when the last of those packets was written to the socket, or dropped
     * by an abort or a close. Until then the bytes must not change. Blocks like {@link #write} while the send
     * ring is full.
     *
     * <p>{@code src} must be direct to go out uncopied (the socket writes from native memory); a heap buffer
     * is copied like {@link #write(ByteBuffer)} and released before this returns. {@code onRelease} runs on
     * the thread that releases the last packet (usually the connection's writer, an I/O thread): it must be
     * quick and must not block. The writing thread.
     *
     * @param src the bytes to send, owned by the caller until {@code onRelease} runs
     * @param onRelease runs once when braid no longer needs {@code src}'s memory
     */
    void write(ByteBuffer src, Runnable onRelease);

    /**
     * The largest payload of one data packet on this stream: libvirt's 262,120 bytes, or less when the peer's
     * window or largest message is smaller. {@link #write(int, PayloadWriter)}'s limit. Any thread.
     *
     * @return the maximum payload of one packet, in bytes
     */
    int maxPacketSize();

    /**
     * Sparse streams: tells the peer that the next {@code length} bytes are zeros, without sending them.
     *
     * @param length how many zero bytes the hole stands for
     */
    void sendHole(long length);

    /**
     * Half-close: ends this side's data (an EOF after every queued packet) and keeps the stream open for
     * reading until the peer's EOF; then {@link #finish()} completes the stream. Writes after it throw
     * {@link IllegalStateException}. Idempotent. The writing thread; blocks only while the send ring is full,
     * like a write. On a client, send it only to a braid server: libvirt's API has no half-close, and a
     * libvirt daemon takes the empty packet as zero bytes of data (docs/protocol.md §10).
     */
    void closeWrite();

    /**
     * Ends the stream successfully with libvirt's round trip: this side's end (EOF or OK) goes after every
     * queued packet, and the call returns only when the peer confirmed with OK, so any error the peer raised
     * on the way is thrown here. Packets still unread when it returns are dropped (read to the end first, after
     * {@link #closeWrite()}, to get them). A result the server sent is dropped. Blocks up to the finish timeout.
     *
     * @throws RemoteException if the peer aborted (a server's abort carries its remote_error)
     * @throws BraidException  TIMEOUT if the peer did not confirm in time (the stream is then aborted),
     *                         CONNECTION_CLOSED if the connection went
     */
    void finish();

    /**
     * Server: {@link #finish()}, the final OK carrying {@code result}'s remaining bytes (copied, not consumed)
     * as the stream's result, which the client's {@link #finish(Marshaller)} or {@link #finishAsync()} gets.
     *
     * @param result the stream's result payload: its remaining bytes, copied, not consumed
     * @throws IllegalStateException  on a client (its OK is not the handshake's last)
     * @throws LimitExceededException if the result does not fit in the largest message
     */
    void finish(ByteBuffer result);

    /**
     * Server: {@link #finish(ByteBuffer)} with {@code result} encoded by {@code marshaller} straight into the OK.
     *
     * @param <T> the result type
     * @param marshaller encodes the result
     * @param result the stream's result value
     */
    <T> void finish(Marshaller<T> marshaller, T result);

    /**
     * Client: {@link #finish()}, returning the server's result decoded by {@code marshaller}, or null when
     * the server sent none (an empty OK: always so from a libvirt daemon).
     *
     * @param <T> the result type
     * @param marshaller decodes the server's result
     * @return the decoded result, or null when the server sent none
     * @throws IllegalStateException on a server
     * @throws BraidException        category PROTOCOL if the result cannot be decoded
     */
    <T> T finish(Marshaller<T> marshaller);

    /**
     * {@link #finish()} without blocking any thread, for {@link StreamListener}s, non-blocking handlers and
     * asynchronous code: the future completes (on the callback executor, {@link BraidConfig#callbackExecutor}) once the handshake is done, with
     * a read-only copy of the server's result on a client (empty if none; always empty on a server), or
     * exceptionally as {@code finish()} would throw. Same deadline. A handler that called it may return with
     * the stream still open: braid finishes it. The writing thread, I/O threads included.
     *
     * @return completes once the handshake is done: with the server's result on a client (empty if none),
     *         empty on a server; exceptionally as {@code finish()} would throw
     */
    CompletableFuture<ByteBuffer> finishAsync();

    /**
     * Server: {@link #finishAsync()} whose final OK carries {@code result} (see {@link #finish(ByteBuffer)}).
     *
     * @param result the stream's result payload: its remaining bytes, copied, not consumed
     * @return completes (empty) once the handshake is done, or exceptionally as {@code finish()} would throw
     */
    CompletableFuture<ByteBuffer> finishAsync(ByteBuffer result);

    /**
     * Aborts at once: sends STREAM+ERROR (a server's carries a remote_error with {@code reason}), drops
     * queued data both ways and returns its buffers. The peer's next read or write fails with the reason.
     * Idempotent; never blocks.
     *
     * @param reason why, for the peer and for this side's later calls
     */
    void abort(String reason);

    // ------------------------------------------------------------------ reading

    /**
     * Reads into {@code dst}, blocking until at least one byte (or a hole's zeros) is available. Returns the
     * number of bytes read or {@link #EOF}. Holes are delivered as zeros.
     *
     * @param dst where the bytes go
     * @return the bytes read, or {@link #EOF}
     * @throws BraidException if the stream was aborted or its connection closed
     */
    int read(ByteBuffer dst);

    /**
     * Like {@link #read} but waits at most {@code timeout}; returns {@link #WOULD_BLOCK} when it passes.
     *
     * @param dst where the bytes go
     * @param timeout the longest wait
     * @return the bytes read, {@link #EOF}, or {@link #WOULD_BLOCK} after the timeout
     */
    int read(ByteBuffer dst, Duration timeout);

    /**
     * Reads what is available without blocking: bytes, {@link #WOULD_BLOCK} or {@link #EOF}.
     *
     * @param dst where the bytes go
     * @return the bytes read, {@link #WOULD_BLOCK} or {@link #EOF}
     */
    int tryRead(ByteBuffer dst);

    /**
     * Zero copy: the next packet as a view of its pooled buffer (the caller must close it), blocking until
     * one arrives; null at the end of the stream. Holes come as packets with {@link StreamPacket#isHole()}.
     *
     * @return the packet, owned by the caller, or null at the end
     */
    StreamPacket readPacket();

    /**
     * Zero copy without blocking: the next packet (the caller must close it), {@code null} when none is
     * there yet (wait for {@link StreamListener#onReadable}), or {@link StreamPacket#EOF} once every packet
     * before the peer's end was read. The reading thread, I/O threads included.
     *
     * @return the packet, owned by the caller; null when none is there yet; {@link StreamPacket#EOF} at the end
     */
    StreamPacket tryReadPacket();

    // ------------------------------------------------------------------ the opening reply

    /**
     * Client: the payload of the reply that opened the stream (a libvirt screenshot's MIME type, any result a
     * stream procedure returns first), as a read-only copy, position 0, valid for as long as you keep it; empty
     * on a server or when the reply had none. Any thread.
     *
     * @return the opening reply's payload, read-only, position 0; empty on a server or when there was none
     */
    ByteBuffer openingReply();

    /**
     * Client: the opening reply decoded by {@code marshaller} (a descriptor's reply marshaller, for a typed
     * stream procedure). Any thread.
     *
     * @param <T> the opening reply's type
     * @param marshaller decodes the opening reply's payload
     * @return the decoded opening reply
     * @throws BraidException category PROTOCOL if it cannot be decoded
     */
    <T> T openingReply(Marshaller<T> marshaller);

    // ------------------------------------------------------------------ pumps (libvirt's virStreamSendAll / RecvAll)

    /** Fills a buffer for {@link #sendAll}. */
    @FunctionalInterface
    interface Source {
        /**
         * Puts the next bytes into {@code dst} (at most its remaining) and returns how many, or -1 when
         * there are no more. An exception aborts the stream with its message.
         *
         * @param dst where to put the bytes
         * @return how many bytes were put, or -1 at the end
         * @throws Exception anything: the stream is aborted with its message
         */
        int fill(ByteBuffer dst) throws Exception;
    }

    /** Consumes received bytes for {@link #receiveAll}. */
    @FunctionalInterface
    interface Sink {
        /**
         * Takes {@code data} (valid during the call only). An exception aborts the stream with its message.
         *
         * @param data the bytes received
         * @throws Exception anything: the stream is aborted with its message
         */
        void accept(ByteBuffer data) throws Exception;
    }

    /**
     * Sends everything {@code source} produces, then {@link #finish()}es. If the source fails, the stream is
     * aborted with its message and the failure is rethrown (wrapped in a {@link BraidException}).
     *
     * @param source produces the bytes to send
     * @return the bytes sent
     */
    long sendAll(Source source);

    /**
     * Hands every received byte to {@code sink} (holes as zeros) until the end of the stream, then
     * {@link #finish()}es. If the sink fails, the stream is aborted with its message and the failure rethrown.
     *
     * @param sink takes the bytes received
     * @return the bytes received
     */
    long receiveAll(Sink sink);

    // ------------------------------------------------------------------ events, adapters, counters

    /**
     * Readiness callbacks, libvirt's {@code virStreamEventAddCallback}: called on the connection's I/O
     * thread, so they must not block; use {@link #tryRead} / {@link #tryWrite} inside them. Replaces any
     * earlier listener; null removes it.
     *
     * @param listener the callbacks, or null
     */
    void setListener(StreamListener listener);

    /**
     * Reads the stream; holes come out as zeros. Closing it aborts the stream unless EOF was reached.
     *
     * @return an input stream over this stream
     */
    InputStream inputStream();

    /**
     * Writes the stream; {@code close()} finishes it (the full handshake).
     *
     * @return an output stream over this stream
     */
    OutputStream outputStream();

    /**
     * Reads the stream as a channel ({@link #read} underneath: holes come out as zeros). Closing the channel
     * closes only the channel: finish or abort the stream itself.
     *
     * @return a channel over this stream
     */
    ReadableByteChannel readableChannel();

    /**
     * Writes the stream as a channel ({@link #write(ByteBuffer)} underneath). Closing the channel closes only
     * the channel: finish or abort the stream itself.
     *
     * @return a channel over this stream
     */
    WritableByteChannel writableChannel();

    /**
     * Payload bytes this side has queued for sending (holes count their length).
     *
     * @return the count
     */
    long bytesWritten();

    /**
     * Payload bytes this side has read (holes count their length).
     *
     * @return the count
     */
    long bytesRead();

    /**
     * Window cost of the packets received and not yet read (or, from {@link #readPacket()}, not yet closed):
     * what this side holds for the stream, never more than {@link #receiveWindow()} when flow control is on.
     * Any thread.
     *
     * @return bytes of window the received, unconsumed packets cost
     */
    long queuedBytes();

    /**
     * Bytes this side wrote and that still wait in the stream's send queue (frames, headers included): what
     * a slow peer or a closed window holds back on this side. Bounded by the send queue's size. Any thread.
     *
     * @return the bytes waiting to be sent
     */
    long sendQueuedBytes();

    /**
     * The window the peer grants this stream (its advertised initial window): this side never has more than
     * that in flight. {@code Long.MAX_VALUE / 2} without flow control (libvirt mode). Any thread.
     *
     * @return the window in bytes
     */
    long sendWindow();

    /**
     * The window this side grants the peer for this stream. Any thread.
     *
     * @return the window in bytes
     */
    long receiveWindow();

    /**
     * Bytes the peer's window still allows this side to send before the next credit (the peer's window
     * minus what is in flight); {@code Long.MAX_VALUE / 2} without flow control (libvirt mode). Any thread.
     *
     * @return the credit in bytes
     */
    long sendCredit();

    /**
     * True until finished, aborted or the connection closed.
     *
     * @return whether it is open
     */
    boolean isOpen();

    /**
     * Ends the stream if still open. If this side read the stream to its end ({@link #EOF} from a read, or
     * null from {@link #readPacket()}) and nothing failed, it {@link #finish()}es it (the full handshake;
     * blocking up to the finish timeout); otherwise it aborts it with "closed by the application". On one of
     * braid's I/O threads it never waits: a clean stream's end is queued and the stream completes when the
     * peer answers.
     */
    @Override
    void close();
}
