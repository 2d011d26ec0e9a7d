package dev.braid;

/**
 * A blocking braid operation was called on one of braid's I/O threads (from a {@code NON_BLOCKING}
 * handler, a {@link ReplyHandler}, a future's continuation, a stream or event listener). Waiting there
 * would stop that thread's loop, and every connection it serves, until the wait timed out, and the
 * awaited answer could only arrive through the same stopped loop. braid fails the operation at once
 * instead, naming the method and the thread (Netty's {@code BlockingOperationException} is the model).
 *
 * <p>Use the non-blocking form ({@code callAsync}, a stream listener, {@code tryRead}/{@code tryWrite}), or
 * hand the work to another executor (a {@code BLOCKING} handler runs on braid's handler threads, where
 * blocking is allowed).
 */
public final class BlockingOperationException extends BraidException {
    private static final long serialVersionUID = 1L;

    /**
     * A blocking operation refused on an I/O thread.
     *
     * @param message names the blocking operation and the I/O thread it was called on
     */
    public BlockingOperationException(final String message) {
        super(Category.CONFIG, message);
    }
}
