package dev.braid.nio;

import dev.braid.ConnectionClosedException;
import dev.braid.internal.backend.RateLimitedLog;
import dev.braid.internal.concurrent.MpmcArrayQueue;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;

import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One selector thread owning its sockets. Each iteration: run tasks handed over by other threads, write
 * every connection that asked for a flush (one coalesced, gathering write per connection per iteration),
 * then select and handle readiness.
 *
 * <h2>Threads</h2>
 * {@link #execute} may be called from any thread; everything else runs on the loop thread. Handing work
 * over: a task goes into {@link #tasks}, a bounded lock-free array queue that allocates nothing (its offer
 * happens-before the loop's poll), or, only while that is full, into {@link #overflow}, and the caller
 * wakes the selector only when {@link #wakeupPending} goes from false to true. The loop clears
 * that flag <em>before</em> it checks the queue and blocks in select, so a task added after the check
 * always finds the flag false and wakes the selector.
 */
final class NioEventLoop implements Runnable {
    private static final System.Logger LOG = System.getLogger("dev.braid.nio");

    private final NioBackendInstance backend;
    private final Selector selector;
    private final Thread thread;
    private final MpmcArrayQueue<Runnable> tasks = new MpmcArrayQueue<>(TASK_QUEUE_CAPACITY);
    /**
     * Tasks offered while {@link #tasks} was full, and every task after them until the loop empties it, so
     * one thread's tasks still run in the order it submitted them.
     */
    private final ConcurrentLinkedQueue<Runnable> overflow = new ConcurrentLinkedQueue<>();
    private static final int TASK_QUEUE_CAPACITY = 4096;
    private final java.util.function.Consumer<SelectionKey> onSelected = this::onSelected;
    private final AtomicBoolean wakeupPending = new AtomicBoolean();
    /** Loop thread only. */
    final ArrayDeque<NioConnection> flushQueue = new ArrayDeque<>();
    private final List<NioConnection> connections = new ArrayList<>();
    private final List<PendingConnect> connects = new ArrayList<>();
    /** Listeners whose accepting is paused after a failed accept (NioListener's backoff). Loop thread. */
    private final List<NioListener> pausedListeners = new ArrayList<>();
    private volatile boolean running = true;
    private volatile boolean terminated;

    private record PendingConnect(SocketChannel channel, ConnectionHandler handler, CompletableFuture<Void> future,
                                  long deadlineNanos, SocketAddress remote) {
    }

    NioEventLoop(final NioBackendInstance backend, final String name) throws IOException {
        this.backend = backend;
        this.selector = Selector.open();
        this.thread = new Thread(this, name);
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    /** Any thread. Runs {@code task} on the loop thread, after the tasks submitted before it. */
    void execute(final Runnable task) {
        if (!overflow.isEmpty() || !tasks.offer(task)) {
            overflow.add(task);
        }
        if (terminated) {
            drainTasksAfterTermination(); // no loop any more: run it here so nothing it holds is leaked
        } else if (!inLoop() && wakeupPending.compareAndSet(false, true)) {
            selector.wakeup();
        }
    }

    private synchronized void drainTasksAfterTermination() {
        Runnable t;
        while ((t = nextTask()) != null) {
            try {
                t.run();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.DEBUG, "task failed after " + thread.getName() + " stopped", e);
            }
        }
    }

    @Override
    public void run() {
        IoThreads.markCurrent("nio"); // before any handler call: blocking braid calls made here fail at once
        try {
            while (true) {
                runTasks();
                if (!running) {
                    break;
                }
                flushAll();
                wakeupPending.set(false);
                final long timeout = connectTimeoutMillis();
                if (tasks.isEmpty() && overflow.isEmpty() && flushQueue.isEmpty()) {
                    selector.select(onSelected, timeout < 0 ? 0 : Math.max(1, timeout));
                } else {
                    selector.selectNow(onSelected);
                }
                checkConnectDeadlines();
                resumeListeners();
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.ERROR, thread.getName() + " failed; closing its connections", t);
        } finally {
            closeEverything();
        }
    }

    private void runTasks() {
        Runnable t;
        int budget = 4096;
        while (budget-- > 0 && (t = nextTask()) != null) {
            try {
                t.run();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.ERROR, "task failed on " + thread.getName(), e);
            }
        }
    }

    private Runnable nextTask() {
        final Runnable t = tasks.poll();
        return t != null ? t : overflow.poll();
    }

    private void flushAll() {
        NioConnection c;
        while ((c = flushQueue.poll()) != null) {
            try {
                c.flush();
            } catch (Throwable t) {
                failed(c, t);
            }
        }
    }

    /**
     * Loop thread: one ready key (the selector's action form, which fills no selected-key set). Whatever one
     * key's work throws, an {@link Error} such as {@link OutOfMemoryError} included, stays with that key: a
     * connection closes with it as the reason, a listener logs it and keeps accepting, and the loop goes on
     * serving every other key (issue 11 §1.1).
     */
    private void onSelected(final SelectionKey k) {
        final Object a = k.attachment();
        if (!k.isValid()) {
            return;
        }
        try {
            if (a instanceof NioConnection c) {
                final int ready = k.readyOps();
                if ((ready & SelectionKey.OP_WRITE) != 0) {
                    c.flush();
                }
                if ((ready & SelectionKey.OP_READ) != 0 && k.isValid()) {
                    c.onReadable();
                }
            } else if (a instanceof NioListener l) {
                l.acceptAll();
            } else if (a instanceof PendingConnect p) {
                finishConnect(k, p);
            }
        } catch (Throwable t) {
            failed(a, t);
        }
    }

    /** Loop thread: what one key's work threw closes that key's connection only (or is logged, for a listener). */
    void failed(final Object owner, final Throwable t) {
        if (owner instanceof NioConnection c) {
            FAILURES.warn(thread.getName() + ": closing " + c.remoteAddress() + " after a failure while serving it", t);
            c.close(t);
        } else {
            FAILURES.warn(thread.getName() + ": failure on " + owner + "; the loop goes on", t);
        }
    }

    /** Failures caught on a loop (one connection's, or a listener's), rate-limited across every loop. */
    static final RateLimitedLog FAILURES = new RateLimitedLog(LOG);

    // ------------------------------------------------------------------ connect and accept

    CompletableFuture<Void> connect(final SocketAddress remote, final ConnectionHandler handler) {
        final CompletableFuture<Void> f = new CompletableFuture<>();
        execute(() -> {
            SocketChannel ch = null;
            try {
                ch = dev.braid.internal.backend.UnixSockets.openFor(remote);
                ch.configureBlocking(false);
                configure(ch);
                final PendingConnect p = new PendingConnect(ch, handler, f,
                        System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backend.settings.connectTimeoutMillis()), remote);
                if (ch.connect(remote)) {
                    open(ch, handler, null);
                    f.complete(null);
                } else {
                    ch.register(selector, SelectionKey.OP_CONNECT, p);
                    connects.add(p);
                }
            } catch (Throwable e) { // an Error too: the caller learns it, the loop goes on
                closeQuietly(ch);
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    private void finishConnect(final SelectionKey k, final PendingConnect p) {
        connects.remove(p);
        try {
            if (p.channel.finishConnect()) {
                open(p.channel, p.handler, k);
                p.future.complete(null);
            }
        } catch (Throwable e) { // an Error too: the caller learns it, the loop goes on
            k.cancel();
            closeQuietly(p.channel);
            p.future.completeExceptionally(e);
        }
    }

    /** The select timeout: -1 for none, else at least 1 ms until the first connect deadline or listener resume. */
    private long connectTimeoutMillis() {
        if (connects.isEmpty() && pausedListeners.isEmpty()) {
            return -1;
        }
        long first = Long.MAX_VALUE;
        for (PendingConnect p : connects) {
            first = Math.min(first, p.deadlineNanos);
        }
        for (NioListener l : pausedListeners) {
            first = Math.min(first, l.resumeAtNanos);
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(first - System.nanoTime())); // due already: 1 ms, never "forever"
    }

    /** Loop thread: a listener paused accepting (see NioListener); the select timeout now includes its resume. */
    void acceptPaused(final NioListener l) {
        if (!pausedListeners.contains(l)) {
            pausedListeners.add(l);
        }
    }

    private void resumeListeners() {
        if (pausedListeners.isEmpty()) {
            return;
        }
        final long now = System.nanoTime();
        pausedListeners.removeIf(l -> !l.resumeIfDue(now));
    }

    private void checkConnectDeadlines() {
        if (connects.isEmpty()) {
            return;
        }
        final long now = System.nanoTime();
        for (Iterator<PendingConnect> it = connects.iterator(); it.hasNext(); ) {
            final PendingConnect p = it.next();
            if (now - p.deadlineNanos >= 0) {
                it.remove();
                closeQuietly(p.channel);
                p.future.completeExceptionally(new ConnectException("connect to " + p.remote + " timed out after "
                        + backend.settings.connectTimeoutMillis() + " ms"));
            }
        }
    }

    /** Any thread: take over an accepted socket. */
    void adopt(final SocketChannel ch, final ConnectionHandler handler) {
        execute(() -> {
            try {
                ch.configureBlocking(false);
                configure(ch);
                open(ch, handler, null);
            } catch (Throwable e) { // an Error too: this socket fails, never the loop
                FAILURES.warn(thread.getName() + ": cannot set up an accepted connection", e);
                // open() catches what onOpen throws: a failure here came before the handler was opened
                closeQuietly(ch);
                try {
                    handler.onClosed(e);
                } catch (Throwable again) {
                    FAILURES.warn(thread.getName() + ": onClosed failed for a connection that never opened", again);
                }
            }
        });
    }

    void register(final NioListener l) {
        final CompletableFuture<Void> done = new CompletableFuture<>();
        execute(() -> {
            try {
                l.loop = this;
                l.key = l.channel.register(selector, SelectionKey.OP_ACCEPT, l);
                done.complete(null);
            } catch (ClosedChannelException | RuntimeException e) { // RuntimeException: the loop has stopped
                done.completeExceptionally(e);
            }
        });
        try {
            done.join();
        } catch (java.util.concurrent.CompletionException e) {
            l.close();
            throw new dev.braid.BraidException(dev.braid.BraidException.Category.IO, "cannot listen on "
                    + l.localAddress() + ": " + e.getCause(), e.getCause());
        }
    }

    private void configure(final SocketChannel ch) throws IOException {
        if (!ch.supportedOptions().contains(StandardSocketOptions.TCP_NODELAY)) {
            return; // a Unix domain socket: no TCP options; the kernel's buffers as they are
        }
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        if (backend.settings.sendBufferSize() > 0) {
            ch.setOption(StandardSocketOptions.SO_SNDBUF, backend.settings.sendBufferSize());
        }
        if (backend.settings.receiveBufferSize() > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, backend.settings.receiveBufferSize());
        }
    }

    /** Loop thread: attach a connected socket to a handler; reuses the connect's key when there is one. */
    private void open(final SocketChannel ch, final ConnectionHandler handler, final SelectionKey key) throws IOException {
        final NioConnection c = new NioConnection(this, ch, handler);
        if (key != null) {
            key.attach(c);
            key.interestOps(SelectionKey.OP_READ);
            c.key = key;
        } else {
            c.key = ch.register(selector, SelectionKey.OP_READ, c);
        }
        connections.add(c);
        try {
            handler.onOpen(c);
        } catch (RuntimeException | Error e) {
            c.close(e); // closes in a task: forgets the connection and calls onClosed once
        }
    }

    void forget(final NioConnection c) {
        connections.remove(c);
    }

    private static void closeQuietly(final SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing more to do
            }
        }
    }

    // ------------------------------------------------------------------ shutdown

    /** Any thread: close every connection of this loop and stop it. */
    void shutdown() {
        if (thread.isAlive()) {
            execute(() -> running = false);
        } else if (!terminated) {
            closeEverything(); // never started
        }
    }

    void awaitTermination() {
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void closeEverything() {
        running = false;
        runTasks();
        final ConnectionClosedException closing = new ConnectionClosedException(
                ConnectionClosedException.Reason.LOCAL_CLOSE, "braid is closing", null);
        for (NioConnection c : new ArrayList<>(connections)) {
            c.close(closing);
            c.closeNow();
        }
        for (PendingConnect p : connects) {
            closeQuietly(p.channel);
            p.future.completeExceptionally(closing);
        }
        connects.clear();
        for (SelectionKey k : selector.keys()) {
            if (k.attachment() instanceof NioListener l) {
                l.close();
            }
        }
        terminated = true;
        drainTasksAfterTermination();
        try {
            selector.close();
        } catch (IOException e) {
            // nothing more to do
        }
    }
}
