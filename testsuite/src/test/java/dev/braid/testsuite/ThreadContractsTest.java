package dev.braid.testsuite;

import dev.braid.BlockingOperationException;
import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.ReplyHandler;
import dev.braid.StreamListener;
import dev.braid.StreamOptions;
import dev.braid.StreamPacket;
import dev.braid.spi.IoThreads;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The engine's thread contracts, each tried as a user would break it: packets closed on other threads,
 * blocking operations called on an I/O thread, stream listeners that must only run on I/O threads.
 */
class ThreadContractsTest extends TransportTest {
    static final int PROG = 0x54485244; // "THRD"
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    static final Procedure CLOSE_ME = Procedure.of(PROG, 1, 2);
    static final Procedure DOWNLOAD_4K = Procedure.of(PROG, 1, 3);
    static final Procedure SINK = Procedure.of(PROG, 1, 4);
    static final Procedure GATED = Procedure.of(PROG, 1, 5);

    private BraidServer server(final BraidConfig config) {
        return server(config, b -> b
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(CLOSE_ME, call -> {
                    call.reply(new byte[0]);
                    call.peer().close(); // a graceful close from the loop: must not wait there
                }, HandlerMode.NON_BLOCKING)
                .stream(DOWNLOAD_4K, (call, stream) -> {
                    final long total = call.args().getLong(0);
                    call.reply(new byte[0]);
                    final ByteBuffer packet = ByteBuffer.allocate(4096);
                    long sent = 0;
                    while (sent < total) {
                        packet.clear();
                        packet.putLong(0, sent);
                        stream.write(packet);
                        sent += 4096;
                    }
                    stream.finish();
                })
                .stream(SINK, (call, stream) -> {
                    call.reply(new byte[0]);
                    final ByteBuffer buf = ByteBuffer.allocate(65536);
                    while (stream.read(buf.clear()) != BraidStream.EOF) {
                        // discard
                    }
                    stream.finish();
                }));
    }

    /**
     * Issue 10 §1.1: a server writes 16 MB in 4 KiB packets with a 64 KiB window; the client reads packets
     * and a pool of 4 threads closes them. Every byte of credit must go back exactly once: before, the
     * receiver returned credit twice and then blamed the peer for exceeding the window.
     */
    @Test
    void packetsClosedOnManyThreadsReturnCreditExactlyOnce() throws Exception {
        final int window = 64 << 10;
        final BraidServer server = server(config(true).initialStreamWindow(window));
        final Connection c = connect(config(false).initialStreamWindow(window), server);
        final long total = 16L << 20;
        final ExecutorService closers = Executors.newFixedThreadPool(4);
        try {
            final BraidStream s = c.openStream(DOWNLOAD_4K, ByteBuffer.allocate(8).putLong(0, total),
                    StreamOptions.DEFAULT);
            long received = 0;
            StreamPacket p;
            while ((p = s.readPacket()) != null) {
                received += p.data().remaining();
                final StreamPacket packet = p;
                closers.execute(packet::close);
            }
            closers.shutdown();
            assertThat(closers.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
            s.finish();
            assertThat(received).isEqualTo(total);
        } finally {
            closers.shutdownNow();
        }
    }

    /** Closing one packet on two threads at once releases it once (the second close does nothing). */
    @Test
    void closingAPacketTwiceOnTwoThreadsReleasesItOnce() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(DOWNLOAD_4K, ByteBuffer.allocate(8).putLong(0, 4096L * 256),
                StreamOptions.DEFAULT);
        final ExecutorService two = Executors.newFixedThreadPool(2);
        try {
            StreamPacket p;
            while ((p = s.readPacket()) != null) {
                final StreamPacket packet = p;
                final CountDownLatch go = new CountDownLatch(1);
                final var a = two.submit(() -> { go.await(); packet.close(); return null; });
                final var b = two.submit(() -> { go.await(); packet.close(); return null; });
                go.countDown();
                a.get(30, TimeUnit.SECONDS);
                b.get(30, TimeUnit.SECONDS);
            }
            s.finish();
        } finally {
            two.shutdownNow();
        }
    }

    /**
     * Issue 10 §1.2: {@code peer().close()} in a NON_BLOCKING handler used to stall the loop (and every
     * connection on it) for the whole closeTimeout. With a one-minute closeTimeout, another connection's
     * call on the same server must still be answered long before that, and the closed connection closes.
     */
    @Test
    void closingFromANonBlockingHandlerDoesNotStallTheLoop() throws Exception {
        final BraidServer server = server(config(true).closeTimeout(Duration.ofMinutes(1)).ioThreads(1));
        final Braid clients = braid(config(false));
        final Connection victim = clients.connect(server.address());
        final Connection other = clients.connect(server.address());
        closeLater(victim::abort);
        closeLater(other::abort);
        victim.callAsync(CLOSE_ME, ByteBuffer.allocate(0), CallOptions.DEFAULT).thenAccept(dev.braid.Reply::close);
        // The server's loop must go on: the other connection's call is answered well inside closeTimeout.
        other.callAsync(ECHO, ByteBuffer.allocate(8), CallOptions.DEFAULT).get(20, TimeUnit.SECONDS).close();
        victim.closeFuture().get(20, TimeUnit.SECONDS);
    }

    /**
     * Issue 10 §1.2: a blocking call made from a ReplyHandler (it runs on the I/O thread) fails at once
     * with BlockingOperationException naming the method and the thread, instead of waiting for a reply
     * that only the blocked thread could read.
     */
    @Test
    void blockingOperationsOnAnIoThreadFailAtOnce() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(config(false).defaultCallTimeout(Duration.ofMinutes(1))
                .callbackExecutor(BraidConfig.DIRECT_CALLBACKS), server); // the direct form: the handler runs on I/O
        final Braid spare = braid(config(false));
        final List<Throwable> errors = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        c.callAsync(ECHO, ByteBuffer.allocate(8), CallOptions.DEFAULT, new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                try {
                    attempt(errors, () -> c.call(ECHO, new byte[8], CallOptions.DEFAULT));
                    attempt(errors, () -> c.call(ECHO, ByteBuffer.allocate(8), ByteBuffer.allocate(8),
                            CallOptions.DEFAULT));
                    attempt(errors, () -> c.openStream(SINK, ByteBuffer.allocate(0), StreamOptions.DEFAULT));
                    attempt(errors, () -> closeLater(spare.connect(server.address())::abort));
                } finally {
                    done.countDown();
                }
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                errors.add(error);
                done.countDown();
            }
        });
        assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(errors).hasSize(4).allSatisfy(e -> assertThat(e)
                .isInstanceOf(BlockingOperationException.class)
                .hasMessageContaining("I/O thread"));
        assertThat(errors.get(0)).hasMessageContaining("Connection.call");
        assertThat(errors.get(2)).hasMessageContaining("Connection.openStream");
        assertThat(errors.get(3)).hasMessageContaining("Braid.connect");
        // the connection still works, from an ordinary thread
        assertThat(c.call(ECHO, new byte[8], CallOptions.DEFAULT)).hasSize(8);
    }

    /**
     * Issue 10 §1.2, the other way out: a graceful {@code Connection.close()} called on an I/O thread does
     * not wait there (it returns at once and the close completes on its own) and new calls fail at once.
     */
    @Test
    void closingAClientConnectionFromAReplyHandlerDoesNotWait() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(config(false).closeTimeout(Duration.ofMinutes(1))
                .callbackExecutor(BraidConfig.DIRECT_CALLBACKS), server);
        final CountDownLatch returned = new CountDownLatch(1);
        c.callAsync(ECHO, ByteBuffer.allocate(8), CallOptions.DEFAULT, new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                c.close();
                returned.countDown();
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
            }
        });
        assertThat(returned.await(20, TimeUnit.SECONDS)).isTrue();
        c.closeFuture().get(20, TimeUnit.SECONDS);
        assertThat(c.isOpen()).isFalse();
    }

    /**
     * Issue 14 §3: futures complete on the callback executor, off the I/O threads. Two connections of one
     * client braid share its only I/O thread; a {@code thenApply} on the first blocks until the second's
     * call has been answered. With callbacks on the I/O thread (the old default) the second reply could
     * never be read while the first stage blocks, and the second call would hang.
     */
    @Test
    void aBlockingThenApplyOnOneConnectionDoesNotDelayCallsOnAnother() throws Exception {
        final CountDownLatch gate = new CountDownLatch(1);
        final BraidServer server = server(config(true), b -> b
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(GATED, call -> { // answers once the test attached its stage (else it could run on the test thread)
                    gate.await(60, TimeUnit.SECONDS);
                    call.reply(call.args());
                }));
        final Braid clients = braid(config(false).ioThreads(1));
        final Connection blocked = clients.connect(server.address());
        final Connection other = clients.connect(server.address());
        closeLater(blocked::abort);
        closeLater(other::abort);
        final CountDownLatch stageEntered = new CountDownLatch(1);
        final CountDownLatch otherAnswered = new CountDownLatch(1);
        final AtomicReference<String> stageThread = new AtomicReference<>();
        final CompletableFuture<Boolean> stage = blocked.callAsync(GATED, ByteBuffer.allocate(8), CallOptions.DEFAULT)
                .thenApply(reply -> {
                    reply.close();
                    stageThread.set(Thread.currentThread() + (IoThreads.isIoThread() ? " (an I/O thread)" : ""));
                    stageEntered.countDown();
                    try {
                        return otherAnswered.await(60, TimeUnit.SECONDS); // blocks until the other call is answered
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                });
        gate.countDown();
        assertThat(stageEntered.await(30, TimeUnit.SECONDS)).isTrue();
        // While that stage blocks, the other connection's calls are answered: the I/O thread is free.
        for (int i = 0; i < 10; i++) {
            other.callAsync(ECHO, ByteBuffer.allocate(8), CallOptions.DEFAULT).get(30, TimeUnit.SECONDS).close();
        }
        assertThat(stage).isNotDone(); // still blocked: the other calls did not wait for it
        otherAnswered.countDown();
        assertThat(stage.get(30, TimeUnit.SECONDS)).isTrue();
        assertThat(stageThread.get()).doesNotContain("I/O thread");
    }

    /**
     * Issue 14 §3: on the default callback executor a ReplyHandler may block, even on a blocking braid call
     * of its own connection (the BlockingOperationException guard is for the direct form only).
     */
    @Test
    void aReplyHandlerMayBlockOnTheDefaultCallbackExecutor() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final AtomicReference<Object> outcome = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        c.callAsync(ECHO, ByteBuffer.allocate(8), CallOptions.DEFAULT, new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                try {
                    outcome.set(IoThreads.isIoThread() ? "ran on an I/O thread"
                            : c.call(ECHO, new byte[8], CallOptions.DEFAULT).length);
                } catch (Throwable t) {
                    outcome.set(t);
                } finally {
                    done.countDown();
                }
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                outcome.set(error);
                done.countDown();
            }
        });
        assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(outcome.get()).isEqualTo(8);
    }

    private static void attempt(final List<Throwable> errors, final ThrowingRunnable r) {
        try {
            r.run();
            errors.add(new AssertionError("returned normally"));
        } catch (Throwable t) {
            errors.add(t);
        }
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /**
     * Issue 10 §1.5: a StreamListener runs only on braid's I/O threads, whoever made the stream ready:
     * the state at setListener, an abort by the application, ring space freed by a write-through on the
     * caller's thread (nio), data from the peer.
     */
    @Test
    void streamListenersRunOnlyOnIoThreads() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final List<String> wrongThreads = new CopyOnWriteArrayList<>();
        final AtomicLong callbacks = new AtomicLong();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final CountDownLatch failed = new CountDownLatch(1);
        final BraidStream s = c.openStream(SINK, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        final ByteBuffer chunk = ByteBuffer.allocateDirect(16 << 10);
        s.setListener(new StreamListener() {
            @Override
            public void onWritable(final BraidStream stream) {
                record();
                if (stream.isOpen()) {
                    stream.tryWrite(chunk.clear());
                }
            }

            @Override
            public void onError(final BraidStream stream, final BraidException e) {
                record();
                error.set(e);
                failed.countDown();
            }

            private void record() {
                callbacks.incrementAndGet();
                if (!IoThreads.isIoThread()) {
                    wrongThreads.add(Thread.currentThread().getName());
                }
            }
        });
        // Lone calls on this thread while the stream writes: nio writes them through on this thread.
        for (int i = 0; i < 2_000; i++) {
            c.call(ECHO, new byte[8], CallOptions.DEFAULT);
        }
        s.abort("test over"); // onError for an abort made here, on the application thread
        assertThat(failed.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(error.get()).hasMessageContaining("test over");
        assertThat(callbacks.get()).isGreaterThan(1);
        assertThat(wrongThreads).isEmpty();
    }
}
