package dev.braid.nio;

import dev.braid.ConnectionClosedException;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The nio backend against plain blocking sockets and a recording handler instead of braid's engine (the
 * transport suite in {@code testsuite} runs the engine over it), like {@code EpollConnectionTest} and
 * {@code LoomBackendTest}: echo through a listener, the writer waiting for OP_WRITE, write-through on the
 * calling thread and its hand-over to the loop, reading on and off, {@code execute}, closing, and shutdown.
 * Every test ends with no backend thread alive.
 */
class NioConnectionTest {
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final long WAIT = 10;

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private String prefix;

    private BackendInstance start(final int sendBufferSize) {
        prefix = "braid-t" + INSTANCES.incrementAndGet() + "-nio";
        final BackendInstance b = new NioBackend().start(new BackendSettings(1, prefix, sendBufferSize, 0, 5_000));
        closeables.add(b);
        return b;
    }

    private <T extends AutoCloseable> T later(final T c) {
        closeables.add(c);
        return c;
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        if (prefix != null) {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            List<Thread> left = braidThreads();
            while (!left.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(10);
                left = braidThreads();
            }
            assertThat(left).as("threads left by the backend").isEmpty();
        }
    }

    private List<Thread> braidThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix))
                .toList();
    }

    private static byte[] pattern(final int n, final long seed) {
        final byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static InetSocketAddress loopback(final int port) {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    /** A client connection to a plain server socket; returns the handler (opened) and the accepted peer. */
    private record Pair(RecordingHandler handler, Socket peer) {
    }

    private Pair connect(final BackendInstance backend, final RecordingHandler h) throws Exception {
        final ServerSocket server = later(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        return new Pair(h, later(server.accept()));
    }

    private static void awaitUntil(final java.util.function.BooleanSupplier condition) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within " + WAIT + " s");
            }
            Thread.sleep(2);
        }
    }

    @Test
    void reportsItselfAsNio() {
        final NioBackend b = new NioBackend();
        assertThat(b.name()).isEqualTo("nio");
        assertThat(b.isAvailable()).isTrue();
        assertThat(b.unavailabilityCause()).isNull();
        assertThat(java.util.ServiceLoader.load(dev.braid.spi.Backend.class).stream()
                .map(p -> p.type().getName())).contains(NioBackend.class.getName());
    }

    @Test
    void acceptsAndEchoesOnAMarkedLoopThread() throws Exception {
        final BackendInstance backend = start(0);
        final LinkedBlockingQueue<RecordingHandler> accepted = new LinkedBlockingQueue<>();
        final BackendInstance.Listener l = later(backend.listen(loopback(0), () -> {
            final RecordingHandler h = new RecordingHandler(8192);
            accepted.add(h);
            return h;
        }));
        final byte[] data = pattern(3_000_000, 7);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
            final RecordingHandler h = accepted.poll(WAIT, TimeUnit.SECONDS);
            assertThat(h).isNotNull();
            h.opened.get(WAIT, TimeUnit.SECONDS);
            h.afterInbound = (chunk, total) -> h.send(chunk, 10_000); // echo, from the reader context
            final Thread writer = new Thread(() -> {
                try {
                    s.getOutputStream().write(data);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            writer.start();
            final byte[] back = s.getInputStream().readNBytes(data.length);
            writer.join();
            assertThat(Arrays.equals(back, data)).isTrue();
            assertThat(h.transport().remoteAddress()).isEqualTo(s.getLocalSocketAddress());
            assertThat(h.transport().backendName()).isEqualTo("nio");
            assertThat(h.loop.getName()).startsWith(prefix + "-io-");
            s.shutdownOutput();
            assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).isInstanceOfSatisfying(ConnectionClosedException.class,
                    e -> assertThat(e.reason()).isEqualTo(ConnectionClosedException.Reason.PEER_CLOSED));
            assertThat(h.events).contains("eof");
            assertThat(h.violations).isEmpty();
        }
    }

    @Test
    void writerWaitsForOpWriteAndEveryByteLeavesOnceInOrder() throws Exception {
        final Pair p = connect(start(64 * 1024), new RecordingHandler(4096));
        final RecordingHandler h = p.handler();
        final byte[][] parts = new byte[8][];
        int total = 0;
        for (int i = 0; i < parts.length; i++) {
            parts[i] = pattern(1_000_000 + i * 1_000, 10 + i);
            total += parts[i].length;
        }
        final Thread producer = new Thread(() -> {
            for (byte[] part : parts) {
                h.send(part, 50_000 + part.length % 7_919); // odd sizes: buffers end mid-write
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        producer.start();
        Thread.sleep(300); // nobody reads yet: the socket fills up and the loop arms OP_WRITE
        assertThat(h.written.get()).isLessThan(total);
        final byte[] got = p.peer().getInputStream().readNBytes(total);
        producer.join();
        final byte[] expected = new byte[total];
        int off = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, expected, off, part.length);
            off += part.length;
        }
        assertThat(Arrays.equals(got, expected)).as("bytes received in order, none twice, none missing").isTrue();
        assertThat(h.written.get()).isEqualTo(total);
        h.transport().close(new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, "done", null));
        assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).hasMessageContaining("done");
        assertThat(h.violations).isEmpty();
    }

    @Test
    void anUrgentFlushOnAQuietConnectionIsWrittenByTheCallingThread() throws Exception {
        final Pair p = connect(start(0), new RecordingHandler(1024));
        final RecordingHandler h = p.handler();
        final byte[] call = pattern(64, 3);
        h.writerThreads.clear();
        h.queue(call, 64);
        h.transport().requestUrgentFlush(); // this thread writes: no hand-over to the loop
        assertThat(h.written.get()).as("written before requestUrgentFlush returned").isEqualTo(64);
        assertThat(h.writerThreads).containsExactly(Thread.currentThread().getName());
        assertThat(p.peer().getInputStream().readNBytes(64)).isEqualTo(call);
        assertThat(h.violations).isEmpty();
    }

    @Test
    void whenTheSocketIsFullAnUrgentFlushIsLeftToTheLoop() throws Exception {
        final Pair p = connect(start(64 * 1024), new RecordingHandler(1024));
        final RecordingHandler h = p.handler();
        final byte[] bulk = pattern(8 << 20, 4);
        h.send(bulk, 256 * 1024);
        final NioConnection c = (NioConnection) h.transport();
        awaitUntil(c::writeInterest); // the peer does not read: the loop waits for OP_WRITE
        final byte[] call = pattern(64, 5);
        h.queue(call, 64);
        h.transport().requestUrgentFlush();
        assertThat(h.writerThreads).as("this thread did not write: the socket is full")
                .doesNotContain(Thread.currentThread().getName());
        final byte[] got = p.peer().getInputStream().readNBytes(bulk.length + call.length);
        assertThat(Arrays.copyOfRange(got, bulk.length, got.length)).isEqualTo(call);
        assertThat(h.writerThreads).doesNotContain(Thread.currentThread().getName());
        assertThat(h.violations).isEmpty();
    }

    @Test
    void writeThroughFromManyThreadsNeverOverlapsTheLoopAndKeepsEachThreadsOrder() throws Exception {
        final Pair p = connect(start(64 * 1024), new RecordingHandler(1024));
        final RecordingHandler h = p.handler();
        final int threads = 4;
        final int perThread = 2_000;
        final int frame = 12; // thread id, sequence number, and 4 bytes of filler
        final CountDownLatch go = new CountDownLatch(1);
        final List<Thread> producers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            producers.add(new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perThread; i++) {
                    final byte[] b = java.nio.ByteBuffer.allocate(frame).putInt(id).putInt(i).putInt(0x0badcafe).array();
                    h.queue(b, frame);
                    if (i % 3 == 0) {
                        h.transport().requestFlush(); // the loop writes too, at the same time
                    } else {
                        h.transport().requestUrgentFlush();
                    }
                }
            }, "producer-" + t));
        }
        producers.forEach(Thread::start);
        final InputStream in = p.peer().getInputStream();
        go.countDown();
        final byte[] got = in.readNBytes(threads * perThread * frame);
        for (Thread t : producers) {
            t.join();
        }
        final int[] next = new int[threads];
        final java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(got);
        while (bb.hasRemaining()) {
            final int id = bb.getInt();
            final int seq = bb.getInt();
            assertThat(bb.getInt()).isEqualTo(0x0badcafe);
            assertThat(seq).as("thread %d's frames in its order", id).isEqualTo(next[id]++);
        }
        assertThat(next).containsOnly(perThread);
        assertThat(h.writerThreads.stream().anyMatch(n -> n.startsWith("producer-"))).as("some written through").isTrue();
        assertThat(h.violations).as("no two writer-context calls at once").isEmpty();
    }

    @Test
    void readingIsAnIdempotentSwitchAndTurningItOnCallsOnInboundZeroFirst() throws Exception {
        final RecordingHandler h = new RecordingHandler(1000);
        h.atOpen = () -> {
            h.transport().setReadSuspended(true); // reader context: off at once
            h.transport().setReadSuspended(true); // the same again: still one switch
        };
        final Pair p = connect(start(0), h);
        final byte[] data = pattern(40_000, 1);
        p.peer().getOutputStream().write(data);
        Thread.sleep(300);
        assertThat(h.received()).as("nothing is delivered while reading is off").isEmpty();
        // The handler turns reading off half way through (on the reader: at once); one "on" finishes the delivery.
        final CompletableFuture<Void> halfWay = new CompletableFuture<>();
        h.afterInbound = (chunk, total) -> {
            if (total >= data.length / 2 && !halfWay.isDone()) {
                h.transport().setReadSuspended(true);
                halfWay.complete(null);
            }
        };
        h.transport().setReadSuspended(false);
        halfWay.get(WAIT, TimeUnit.SECONDS);
        Thread.sleep(100);
        final int halfCount = h.received().length;
        assertThat(halfCount).isLessThan(data.length);
        // "off" then "on" from another thread, back to back: reading stays on and an onInbound(0) is owed again
        h.transport().setReadSuspended(false);
        awaitUntil(() -> h.received().length == data.length);
        assertThat(h.received()).isEqualTo(data);
        final int resumes = (int) h.events.stream().filter("resume"::equals).count();
        h.transport().setReadSuspended(true);
        h.transport().setReadSuspended(false);
        awaitUntil(() -> h.events.stream().filter("resume"::equals).count() == resumes + 1);
        final List<String> ev = List.copyOf(h.events);
        assertThat(ev.get(1)).as("turning reading on first reports 0 bytes").isEqualTo("resume");
        p.peer().getOutputStream().write(data); // still reading
        awaitUntil(() -> h.received().length == 2 * data.length);
        assertThat(h.violations).isEmpty();
    }

    @Test
    void executeRunsTasksInOrderOnTheLoopNeverInlineAndNotAfterTheClose() throws Exception {
        final RecordingHandler h = new RecordingHandler(1024);
        final ConcurrentLinkedQueue<Integer> ran = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        h.afterInbound = (chunk, total) -> {
            final AtomicInteger inCall = new AtomicInteger(1);
            h.transport().execute(() -> { // from inside a handler call on the loop: runs after it returns
                if (inCall.get() != 0 || h.insideReader.get() != 0) {
                    problems.add("ran inside the handler call that handed it over");
                }
                ran.add(-1);
            });
            inCall.set(0);
        };
        final Pair p = connect(start(0), h);
        final AtomicReference<Thread> caller = new AtomicReference<>();
        final int n = 10_000;
        final Thread t = new Thread(() -> {
            caller.set(Thread.currentThread());
            for (int i = 0; i < n; i++) {
                final int k = i;
                h.transport().execute(() -> {
                    if (Thread.currentThread() != h.loop) {
                        problems.add("ran on " + Thread.currentThread().getName());
                    }
                    if (!IoThreads.isIoThread()) {
                        problems.add("ran on a thread not marked as an I/O thread");
                    }
                    ran.add(k);
                });
            }
        });
        t.start();
        p.peer().getOutputStream().write(new byte[10]);
        t.join();
        awaitUntil(() -> ran.stream().filter(k -> k >= 0).count() == n && ran.contains(-1));
        assertThat(ran.stream().filter(k -> k >= 0).toList()).as("one submitter's tasks in its order")
                .isEqualTo(IntStream.range(0, n).boxed().toList());
        assertThat(problems).isEmpty();
        h.transport().close(new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, "done", null));
        h.closed.get(WAIT, TimeUnit.SECONDS);
        final AtomicInteger late = new AtomicInteger();
        h.transport().execute(late::incrementAndGet); // after the close: dropped, never inline, no exception
        Thread.sleep(50);
        assertThat(late.get()).isZero();
        assertThat(h.violations).isEmpty();
    }

    @Test
    void theFirstCloseReasonWinsAndWhatWasQueuedLeavesFirst() throws Exception {
        final Pair p = connect(start(0), new RecordingHandler(1024));
        final RecordingHandler h = p.handler();
        final byte[] answer = pattern(100_000, 9);
        h.queue(answer, 16_384);
        h.transport().close(new ConnectionClosedException(ConnectionClosedException.Reason.PROTOCOL_ERROR, "first", null));
        h.transport().close(new IOException("second"));
        assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).hasMessageContaining("first");
        assertThat(p.peer().getInputStream().readAllBytes()).as("the last flush, then end of stream").isEqualTo(answer);
        assertThat(h.violations).isEmpty();
    }

    @Test
    void aRefusedConnectFailsTheFutureAndNeverCallsTheHandler() throws Exception {
        final BackendInstance backend = start(0);
        final int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        final RecordingHandler h = new RecordingHandler(1024);
        final CompletableFuture<Void> f = backend.connect(loopback(port), h);
        assertThatThrownBy(() -> f.get(WAIT, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(ConnectException.class);
        Thread.sleep(100);
        assertThat(h.events).isEmpty();
    }

    @Test
    void closeClosesEveryConnectionFirstThenEndsTheThreads() throws Exception {
        final BackendInstance backend = start(0);
        final Pair p = connect(backend, new RecordingHandler(1024));
        final RecordingHandler h = p.handler();
        final byte[] goodbye = pattern(100, 3);
        h.send(goodbye, 100);
        assertThat(p.peer().getInputStream().readNBytes(goodbye.length)).isEqualTo(goodbye);
        backend.close();
        assertThat(h.closed).isDone();
        assertThat(h.closed.get()).hasMessageContaining("braid is closing");
        assertThat(p.peer().getInputStream().read()).as("the peer sees end of stream").isEqualTo(-1);
        assertThat(braidThreads()).isEmpty();
        // requests after the loops are gone are harmless
        final Transport t = h.transport();
        t.requestFlush();
        t.requestUrgentFlush();
        t.setReadSuspended(true);
        t.setReadSuspended(false);
        t.execute(() -> { });
        assertThat(h.violations).isEmpty();
    }
}
