package dev.braid.internal.engine;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs tasks one at a time, in submission order, on an underlying executor (a virtual thread per drain by
 * default). Used to deliver a connection's events in order without a thread per connection.
 *
 * <p>Any thread may {@link #execute}. The {@code pending} counter makes exactly one drainer active: the
 * submitter that moves it from 0 to 1 starts a drain, which runs until it brings it back to 0.
 */
final class SerialExecutor implements Executor, Runnable {
    private final Executor delegate;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pending = new AtomicInteger();
    private final Thread.UncaughtExceptionHandler errors;

    SerialExecutor(final Executor delegate, final Thread.UncaughtExceptionHandler errors) {
        this.delegate = delegate;
        this.errors = errors;
    }

    @Override
    public void execute(final Runnable task) {
        tasks.add(task);
        if (pending.getAndIncrement() == 0) {
            try {
                delegate.execute(this);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                run(); // executor shut down (braid closing): drain here so every task's buffers are released
            }
        }
    }

    @Override
    public void run() {
        do {
            final Runnable task = tasks.poll();
            try {
                task.run();
            } catch (Throwable t) {
                errors.uncaughtException(Thread.currentThread(), t);
            }
        } while (pending.decrementAndGet() != 0);
    }
}
