package dev.braid.internal.engine.stream;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.RemoteError;

import java.util.concurrent.ScheduledFuture;

/**
 * What the connection classes may do with a stream beyond the public {@link BraidStream}: its lifecycle
 * hooks. The implementation ({@code StreamImpl}) stays package-private; this is the whole surface the
 * engine sees.
 *
 * <p><b>Threads.</b> Every method may be called from any thread.
 */
public interface StreamHandle extends BraidStream {

    /** Server: the opening call was answered OK, so the client knows the stream. */
    void accept();

    /** Server: whether {@link #accept()} happened (a RELEASE is then owed to the client). */
    boolean accepted();

    /**
     * Drops one hold on the stream's slot: this side being done, plus (server) the handler running, or
     * (client, with RELEASE negotiated) the server's RELEASE. The last one frees the slot.
     */
    void releaseHold();

    /** Client: the timer that frees the slot if the server's RELEASE does not come; replaces any earlier. */
    void releaseTimer(ScheduledFuture<?> timer);

    /** Client: cancels the RELEASE timer, if any. */
    void cancelReleaseTimer();

    /** Records {@code e} as the stream's failure (the first one wins). Returns false if it had failed. */
    boolean fail(BraidException e);

    /** Server: a handler failure after the stream was accepted becomes an abort carrying its remote_error. */
    void abortWithRemoteError(RemoteError e);

    /** Whether a {@link dev.braid.StreamListener} is set. */
    boolean hasListener();

    /** Client: the opening reply's payload, a copy of its own (before the stream is handed to the caller). */
    void setOpeningReply(java.nio.ByteBuffer copy);

    /** Whether {@code finishAsync} took the stream's end in hand (a handler returning leaves the stream be). */
    boolean endInProgress();
}
