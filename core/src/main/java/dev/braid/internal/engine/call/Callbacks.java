package dev.braid.internal.engine.call;

import dev.braid.BraidConfig;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Where a client's callbacks run ({@link BraidConfig#callbackExecutor(Executor)}): the completion of the
 * futures braid hands out (and so their dependent stages) and reply handlers. The one place that decides
 * between running a callback here and handing it to the executor.
 *
 * <p><b>Threads.</b> Any thread; immutable. The completing thread (an I/O thread, the timer, a closing
 * thread) calls {@link #execute}; the executor's {@code execute} gives the happens-before edge from what
 * that thread wrote before the hand-off to the task.
 *
 * <p><b>Never lost.</b> A task the executor rejects (it was shut down while connections were still
 * closing) runs on the calling thread instead, so every future completes and every handler hears its
 * outcome exactly once.
 */
public final class Callbacks {
    /** Runs every callback on the completing thread (tests and internal futures). */
    public static final Callbacks DIRECT = new Callbacks(BraidConfig.DIRECT_CALLBACKS);

    private final Executor executor;
    private final boolean direct;

    /**
     * @param executor the callback executor; {@link BraidConfig#DIRECT_CALLBACKS} for no hand-off
     */
    public Callbacks(final Executor executor) {
        this.executor = executor;
        this.direct = executor == BraidConfig.DIRECT_CALLBACKS;
    }

    /** Whether callbacks run on the completing thread, with no hand-off. */
    public boolean direct() {
        return direct;
    }

    /** Runs {@code task} on the callback executor (here if direct, or if the executor refuses it). */
    public void execute(final Runnable task) {
        if (direct) {
            task.run();
            return;
        }
        try {
            executor.execute(task);
        } catch (RejectedExecutionException e) {
            task.run(); // the executor is shutting down: deliver here rather than lose the outcome
        }
    }

    /** Completes {@code f} with {@code value} on the callback executor. */
    public <T> void complete(final CompletableFuture<T> f, final T value) {
        if (direct) {
            f.complete(value);
        } else {
            execute(() -> f.complete(value));
        }
    }

    /** Completes {@code f} exceptionally with {@code error} on the callback executor. */
    public void fail(final CompletableFuture<?> f, final Throwable error) {
        if (direct) {
            f.completeExceptionally(error);
        } else {
            execute(() -> f.completeExceptionally(error));
        }
    }
}
