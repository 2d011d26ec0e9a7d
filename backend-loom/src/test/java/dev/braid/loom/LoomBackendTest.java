package dev.braid.loom;

import com.sun.management.HotSpotDiagnosticMXBean;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;
import dev.braid.testing.Await;
import dev.braid.testing.VirtualThreadDumpOnTimeout;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The loom backend against the SPI's contract, with a recording handler instead of braid's engine (the
 * transport suite in {@code testsuite} runs the engine over it): thread contexts, counted suspension,
 * close ordering, the last flush, connect failures, and that {@link BackendInstance#close()} really ends
 * every virtual thread (which {@code Thread.getAllStackTraces()}, and so the suite's leak check, cannot see).
 */
@ExtendWith(VirtualThreadDumpOnTimeout.class)
class LoomBackendTest {
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final InetSocketAddress LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private String prefix;
    private LoomBackendInstance io;

    @BeforeEach
    void start() {
        prefix = "braid-t" + INSTANCES.incrementAndGet() + "-loom";
        io = (LoomBackendInstance) new LoomBackend().start(new BackendSettings(1, prefix, 0, 0, 2_000));
    }

    @AfterEach
    void stop(@TempDir final Path dir) throws IOException {
        io.close();
        assertThat(io.liveThreads()).isZero();
        assertNoThreadsNamed(prefix, dir);
    }

    @Test
    void registeredAsLoomBelowNio() {
        final LoomBackend b = new LoomBackend();
        assertThat(b.name()).isEqualTo("loom");
        assertThat(b.autoPriority()).isEqualTo(5);
        assertThat(b.isAvailable()).isTrue();
        assertThat(b.unavailabilityCause()).isNull();
        assertThat(java.util.ServiceLoader.load(dev.braid.spi.Backend.class).stream()
                .map(p -> p.type().getName())).contains(LoomBackend.class.getName());
    }

    @Test
    void echoesBothWaysWithContextsOnTheirThreadsNeverOverlappingAndNothingAfterOnClosed() throws Exception {
        final RecordingHandler server = new RecordingHandler(true);
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        final int total = 16 << 20;
        final byte[] chunk = new byte[64 * 1024];
        for (int sent = 0; sent < total; sent += chunk.length) {
            for (int i = 0; i < chunk.length; i++) {
                chunk[i] = (byte) ((sent + i) % 251);
            }
            client.send(chunk.clone());
        }
        awaitUntil(() -> client.received.get() == total);
        assertThat(client.checksumErrors.get()).isZero();
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        assertThat(client.closed.get(10, TimeUnit.SECONDS)).hasMessageContaining("done");
        assertThat(server.closed.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(ConnectionClosedException.class,
                e -> assertThat(e.reason()).isEqualTo(Reason.PEER_CLOSED));
        for (RecordingHandler h : List.of(server, client)) {
            h.assertClean();
            assertThat(h.readerThreads).allSatisfy(n -> assertThat(n).startsWith(prefix + "-r-"));
            assertThat(h.writerThreads).allSatisfy(n -> assertThat(n).startsWith(prefix + "-w-"));
        }
        assertThat(server.events).contains("inputClosed");
        awaitUntil(() -> io.liveThreads() == 0); // a closed connection's threads end without BackendInstance.close
    }

    @Test
    void readingIsAnIdempotentSwitchAndTurningItOnCallsOnInboundZeroBeforeReadingAgain() throws Exception {
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public void onOpen(final Transport t) {
                super.onOpen(t);
                t.setReadSuspended(true);
                t.setReadSuspended(true); // the same request again: still one switch, not a count
            }
        };
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        client.send(new byte[100]);
        // on loopback, bytes the client wrote are in the server's socket: a reader that ignored its suspension
        // would take them at once
        awaitUntil(() -> client.written.get() == 100);
        Await.during("nothing is read while suspended", Duration.ofMillis(200), () -> server.received.get() == 0,
                server.received::get);
        server.transport.setReadSuspended(false); // one "on" undoes both "off"s
        awaitUntil(() -> server.received.get() == 100);
        final List<String> inbound = server.events.stream().filter(e -> e.startsWith("inbound:")).toList();
        assertThat(inbound.get(0)).as("the owed onInbound(0) comes before any read").isEqualTo("inbound:0");
        // "on" twice, then "off" and "on" back to back: reading goes on, and an onInbound(0) is owed again.
        server.transport.setReadSuspended(false);
        server.transport.setReadSuspended(true);
        server.transport.setReadSuspended(false);
        client.send(new byte[50]);
        awaitUntil(() -> server.received.get() == 150);
        assertThat(server.events.stream().filter(e -> e.equals("inbound:0")).count()).isGreaterThanOrEqualTo(2);
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        server.closed.get(10, TimeUnit.SECONDS);
        server.assertClean();
    }

    /** Bug 1.5 (loom part): a slow reader-context callback held the engine lock and stalled the writer. */
    @Test
    void aSlowReaderCallbackDoesNotStallWriting() throws Exception {
        final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public void onInbound(final int bytes) {
                super.onInbound(bytes);
                if (bytes > 0 && inside.getCount() > 0) {
                    inside.countDown();
                    try {
                        release.await(); // a slow non-blocking handler or reply handler
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        client.send(new byte[10]);
        assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
        final byte[] chunk = new byte[64 * 1024];
        for (int i = 0; i < chunk.length; i++) {
            chunk[i] = (byte) (i % 251);
        }
        server.send(chunk); // the writer context, while the reader context is stuck in a callback
        awaitUntil(() -> client.received.get() == chunk.length);
        assertThat(release.getCount()).as("written while the reader's callback still ran").isEqualTo(1);
        release.countDown();
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        server.closed.get(10, TimeUnit.SECONDS);
        server.assertClean();
        client.assertClean();
    }

    @Test
    void aSlowWriterCallbackDoesNotStallReading() throws Exception {
        final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public int gatherOutbound(final ByteBuffer[] dst) {
                if (inside.getCount() > 0) {
                    inside.countDown();
                    try {
                        release.await(); // a slow StreamListener.onWritable, called from inside gatherOutbound
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return super.gatherOutbound(dst);
            }
        };
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        server.transport.requestFlush();
        assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
        client.send(new byte[100_000]);
        awaitUntil(() -> server.received.get() == 100_000);
        assertThat(release.getCount()).as("read while the writer's callback still ran").isEqualTo(1);
        release.countDown();
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        server.closed.get(10, TimeUnit.SECONDS);
        server.assertClean();
        client.assertClean();
    }

    @Test
    void tasksRunInOrderInTheReaderContextNeverInsideExecute() throws Exception {
        final java.util.concurrent.atomic.AtomicReference<Thread> caller = new java.util.concurrent.atomic.AtomicReference<>();
        final ConcurrentLinkedQueue<Integer> ran = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public void onInbound(final int bytes) {
                super.onInbound(bytes);
                if (bytes > 0) {
                    final AtomicInteger inCall = new AtomicInteger(1);
                    transport.execute(() -> { // from the reader itself: runs after this call returns
                        if (inCall.get() != 0) {
                            problems.add("ran inside execute, from inside onInbound");
                        }
                        ran.add(-1);
                    });
                    inCall.set(0);
                }
            }
        };
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        final int n = 10_000;
        final Thread t = new Thread(() -> {
            caller.set(Thread.currentThread());
            for (int i = 0; i < n; i++) {
                final int k = i;
                server.transport.execute(() -> {
                    if (Thread.currentThread() == caller.get()) {
                        problems.add("ran on the calling thread");
                    }
                    if (server.insideReader.get() != 0) {
                        problems.add("ran during a reader-context call");
                    }
                    if (!dev.braid.spi.IoThreads.isIoThread()) {
                        problems.add("ran on " + Thread.currentThread().getName());
                    }
                    ran.add(k);
                });
                if (i % 1000 == 0) {
                    client.send(new byte[1000]); // reader-context calls meanwhile
                }
            }
        });
        t.start();
        t.join();
        awaitUntil(() -> ran.stream().filter(k -> k >= 0).count() == n && ran.stream().filter(k -> k < 0).count() > 0);
        assertThat(ran.stream().filter(k -> k >= 0).toList()).as("one submitter's tasks in its order")
                .isEqualTo(java.util.stream.IntStream.range(0, n).boxed().toList());
        assertThat(problems).isEmpty();
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        server.closed.get(10, TimeUnit.SECONDS);
        final AtomicInteger late = new AtomicInteger();
        server.transport.execute(late::incrementAndGet); // after the close: dropped, never inline, no exception
        Thread.sleep(50);
        assertThat(late.get()).isZero();
        server.assertClean();
        client.assertClean();
    }

    @Test
    void aSuspendedReaderStillClosesPromptly() throws Exception {
        final RecordingHandler server = new RecordingHandler(false);
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        server.transport.setReadSuspended(true);
        // The reader waits for a resume that never comes: only the close can wake it (a reader it did not wake
        // would never end, and onClosed, which the last context to end calls, would never come). No bound in
        // time: on a loaded machine it would measure the machine, not the backend.
        server.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "while suspended", null));
        assertThat(server.closed.get(30, TimeUnit.SECONDS)).hasMessageContaining("while suspended");
        client.closed.get(30, TimeUnit.SECONDS);
        server.assertClean();
        client.assertClean();
    }

    @Test
    void theFirstCloseReasonWins() throws Exception {
        final RecordingHandler server = new RecordingHandler(false);
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        server.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "first", null));
        server.transport.close(new IOException("second"));
        assertThat(server.closed.get(5, TimeUnit.SECONDS)).hasMessageContaining("first");
        assertThat(client.closed.get(5, TimeUnit.SECONDS)).isInstanceOfSatisfying(ConnectionClosedException.class,
                e -> assertThat(e.reason()).isEqualTo(Reason.PEER_CLOSED));
        awaitUntil(() -> io.liveThreads() == 0); // both connections' threads ended: no call can follow
        server.assertClean();
        client.assertClean();
    }

    @Test
    void whatIsQueuedBeforeAnOrdinaryCloseIsWrittenFirst() throws Exception {
        final byte[] answer = new byte[100_000];
        for (int i = 0; i < answer.length; i++) {
            answer[i] = (byte) i;
        }
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public void onOpen(final Transport t) {
                super.onOpen(t);
                send(answer);
                t.close(new ConnectionClosedException(Reason.PROTOCOL_ERROR, "bye", null));
            }
        };
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        try (Socket s = new Socket(((java.net.InetSocketAddress) l.localAddress()).getAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
            final InputStream in = s.getInputStream();
            assertThat(in.readAllBytes()).isEqualTo(answer);
        }
        server.closed.get(5, TimeUnit.SECONDS);
        server.assertClean();
    }

    @Test
    void closingAConnectionWhosePeerDoesNotReadTakesOnlyTheLastFlushsGrace() throws Exception {
        final RecordingHandler server = new RecordingHandler(false);
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        try (Socket s = new Socket(((java.net.InetSocketAddress) l.localAddress()).getAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
            s.setReceiveBufferSize(4096); // and it never reads
            awaitUntil(() -> server.transport != null);
            for (int i = 0; i < 64; i++) {
                server.send(new byte[1 << 20]); // far more than the socket buffers take: the writer waits
            }
            Await.until("the writer waits for the socket of the peer that does not read to drain",
                    () -> writerWaitsForWritable(prefix));
            // The writer would wait for ever: the close ends only because the last flush gives up after its
            // grace (and the reader closes the socket after it). No bound in time (it would measure the machine).
            server.transport.close(new ConnectionClosedException(Reason.PEER_NOT_RESPONDING, "stuck", null));
            assertThat(server.closed.get(30, TimeUnit.SECONDS)).hasMessageContaining("stuck");
            assertThat(server.written.get()).isLessThan(64L << 20);
        }
        server.assertClean();
    }

    @Test
    void anUrgentFlushIsWrittenByTheCallingThreadEvenAnInterruptedOneAndTheConnectionStaysOpen() throws Exception {
        final RecordingHandler server = new RecordingHandler(false);
        server.writeThroughAllowed = true;
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        try (Socket s = new Socket(((java.net.InetSocketAddress) l.localAddress()).getAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
            awaitUntil(() -> server.transport != null);
            final byte[] frame = new byte[64];
            java.util.Arrays.fill(frame, (byte) 7);
            for (int round = 0; round < 2; round++) {
                server.out.add(ByteBuffer.wrap(frame.clone()));
                if (round == 1) {
                    Thread.currentThread().interrupt(); // a blocking channel's write would close the channel now
                }
                try {
                    server.transport.requestUrgentFlush(); // this thread writes: no hand-over to the writer
                    assertThat(Thread.currentThread().isInterrupted()).as("the interrupt is left as it was").isEqualTo(round == 1);
                } finally {
                    Thread.interrupted();
                }
                assertThat(server.written.get()).as("written before requestUrgentFlush returned").isEqualTo(64L * (round + 1));
                assertThat(s.getInputStream().readNBytes(64)).isEqualTo(frame);
            }
            assertThat(server.writerThreads).containsOnly(Thread.currentThread().getName());
            server.send(new byte[] {1, 2, 3}); // the connection is still open: the writer thread writes this
            assertThat(s.getInputStream().readNBytes(3)).containsExactly(1, 2, 3);
            assertThat(server.closed).isNotDone();
            server.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
            assertThat(server.closed.get(10, TimeUnit.SECONDS)).hasMessageContaining("done");
        }
        server.assertClean();
    }

    @Test
    void whenTheSocketIsFullAnUrgentFlushIsLeftToTheWriterAndTheCallerDoesNotWait() throws Exception {
        final RecordingHandler server = new RecordingHandler(false);
        server.writeThroughAllowed = true;
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096); // before the connect: a small window; it reads nothing until the end
            s.connect(l.localAddress());
            awaitUntil(() -> server.transport != null);
            final byte[] bulk = new byte[4 << 20];
            for (int i = 0; i < bulk.length; i++) {
                bulk[i] = (byte) (i % 251);
            }
            for (int off = 0; off < bulk.length; off += 256 * 1024) { // far more than the socket buffers take
                final ByteBuffer chunk = ByteBuffer.allocateDirect(256 * 1024).put(bulk, off, 256 * 1024).flip();
                server.out.add(chunk);
            }
            server.transport.requestFlush(); // the writer writes what it can, then waits for the socket to drain
            Await.until("the writer waits for the socket to drain", () -> writerWaitsForWritable(prefix));
            final byte[] frame = new byte[64];
            server.out.add(ByteBuffer.wrap(frame));
            server.transport.requestUrgentFlush(); // returns although the socket is full
            assertThat(server.writerThreads).as("this thread did not write: the socket is full")
                    .doesNotContain(Thread.currentThread().getName());
            s.setReceiveBufferSize(1 << 20); // now read it all quickly
            final byte[] got = s.getInputStream().readNBytes(bulk.length + frame.length);
            assertThat(got.length).as("written: " + server.written.get()).isEqualTo(bulk.length + frame.length);
            assertThat(java.util.Arrays.copyOf(got, bulk.length)).isEqualTo(bulk);
            assertThat(java.util.Arrays.copyOfRange(got, bulk.length, got.length)).isEqualTo(frame);
            server.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
            server.closed.get(10, TimeUnit.SECONDS);
        }
        server.assertClean();
    }

    @Test
    void anUrgentFlushAskedInsideAReadIsWrittenByTheReaderRightAfterIt() throws Exception {
        final RecordingHandler server = new RecordingHandler(true);
        server.urgentEcho = true;
        final RecordingHandler client = new RecordingHandler(false);
        connectPair(server, client);
        client.send(new byte[] {0, 1, 2, 3});
        awaitUntil(() -> client.received.get() == 4);
        assertThat(server.writerThreads).as("the echo left from the reader, not the writer thread")
                .allSatisfy(n -> assertThat(n).startsWith(prefix + "-r-")).isNotEmpty();
        client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
        server.assertClean();
        client.assertClean();
    }

    @Test
    void aFailingHandlerClosesOnlyItsOwnConnection() throws Exception {
        final RecordingHandler bad = new RecordingHandler(false) {
            @Override
            public void onInbound(final int bytes) {
                super.onInbound(bytes);
                if (bytes > 0) {
                    throw new IllegalStateException("engine bug");
                }
            }
        };
        final RecordingHandler badPeer = new RecordingHandler(false);
        connectPair(bad, badPeer);
        final RecordingHandler good = new RecordingHandler(true);
        final RecordingHandler goodPeer = new RecordingHandler(false);
        connectPair(good, goodPeer);
        badPeer.send(new byte[10]);
        assertThat(bad.closed.get(5, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class);
        goodPeer.send(new byte[10]);
        awaitUntil(() -> goodPeer.received.get() == 10);
        assertThat(good.closed).isNotDone();
        bad.assertClean();
    }

    @Test
    void anOnOpenThatThrowsStillGetsExactlyOneOnClosed() throws Exception {
        final RecordingHandler server = new RecordingHandler(false) {
            @Override
            public void onOpen(final Transport t) {
                super.onOpen(t);
                throw new IllegalStateException("cannot open");
            }
        };
        final RecordingHandler client = new RecordingHandler(false);
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        io.connect(l.localAddress(), client).get(5, TimeUnit.SECONDS);
        assertThat(server.closed.get(5, TimeUnit.SECONDS)).hasMessageContaining("cannot open");
        client.closed.get(5, TimeUnit.SECONDS);
        server.assertClean();
    }

    @Test
    void aFailedConnectNeverCallsTheHandler() throws Exception {
        final int port;
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = ss.getLocalPort();
        }
        final RecordingHandler h = new RecordingHandler(false);
        final CompletableFuture<Void> f = io.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), h);
        assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(ConnectException.class);
        io.close(); // joins every thread of the backend: whatever it would have called is called by now
        assertThat(h.events).isEmpty();
        assertThat(h.closedCalls.get()).isZero();
    }

    @Test
    void closeEndsEveryConnectionAndJoinsEveryThread(@TempDir final Path dir) throws Exception {
        final List<RecordingHandler> all = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final RecordingHandler server = new RecordingHandler(true);
            final RecordingHandler client = new RecordingHandler(false);
            connectPair(server, client);
            client.transport.setReadSuspended(true); // one reader waiting on its condition, one in a read
            all.add(server);
            all.add(client);
        }
        io.close();
        assertThat(io.liveThreads()).isZero();
        assertNoThreadsNamed(prefix, dir);
        for (RecordingHandler h : all) {
            assertThat(h.closed).isDone();
            h.assertClean();
        }
        final RecordingHandler late = new RecordingHandler(false);
        assertThatThrownBy(() -> io.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), 1), late)
                .get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(ConnectionClosedException.class);
        assertThat(late.events).isEmpty();
    }

    @Test
    void theDataPathNeverPinsACarrierThread(@TempDir final Path dir) throws Exception {
        final Path file = dir.resolve("pinned.jfr");
        try (Recording r = new Recording()) {
            r.enable("jdk.VirtualThreadPinned").withThreshold(Duration.ZERO).withStackTrace();
            r.start();
            final RecordingHandler server = new RecordingHandler(true);
            final RecordingHandler client = new RecordingHandler(false);
            connectPair(server, client);
            final int total = 8 << 20;
            for (int sent = 0; sent < total; sent += 32 * 1024) {
                client.send(new byte[32 * 1024]);
                if (sent % (1 << 20) == 0) {
                    server.transport.setReadSuspended(true);
                    server.transport.setReadSuspended(false);
                }
            }
            awaitUntil(() -> client.received.get() == total);
            client.transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "done", null));
            server.closed.get(5, TimeUnit.SECONDS);
            r.stop();
            r.dump(file);
        }
        final List<String> pinned = new ArrayList<>();
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            final String thread = e.getThread() == null ? "?" : e.getThread().getJavaName();
            if (thread != null && thread.startsWith("braid-")) {
                pinned.add(thread + " " + e.getStackTrace());
            }
        }
        assertThat(pinned).isEmpty();
    }

    // ------------------------------------------------------------------ helpers

    private void connectPair(final RecordingHandler server, final RecordingHandler client) throws Exception {
        final BackendInstance.Listener l = io.listen(LOOPBACK, () -> server);
        io.connect(l.localAddress(), client).get(5, TimeUnit.SECONDS);
        assertThat(client.transport).isNotNull(); // onOpen returned before the future completed
        awaitUntil(() -> server.transport != null);
        l.close();
    }

    private static void awaitUntil(final java.util.function.BooleanSupplier condition) {
        Await.until("the condition holds", condition);
    }

    /** Whether a writer thread of this backend is blocked in a socket write (read from a JSON thread dump). */
    private static boolean writerWaitsForWritable(final String prefix) {
        try {
            final Path dump = Files.createTempFile("braid-threads", ".json");
            Files.delete(dump); // dumpThreads refuses to overwrite
            try {
                ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                        .dumpThreads(dump.toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
                for (String thread : Files.readString(dump).split("\"tid\"")) {
                    if (thread.contains("\"name\": \"" + prefix + "-w-") && thread.contains("LoomConnection.awaitWritable")) {
                        return true;
                    }
                }
                return false;
            } finally {
                Files.deleteIfExists(dump);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A JSON thread dump lists virtual threads too (Thread.getAllStackTraces does not). */
    private static void assertNoThreadsNamed(final String prefix, final Path dir) throws IOException {
        final Path dump = dir.resolve("threads-" + System.nanoTime() + ".json");
        ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                .dumpThreads(dump.toAbsolutePath().toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
        assertThat(Files.readString(dump)).doesNotContain("\"" + prefix + "-");
    }

    /**
     * A handler that records its calls, checks the SPI's rules as they happen (no call before onOpen or after
     * onClosed, no two calls of one context at once; the reader and the writer context may overlap), and
     * optionally echoes what it reads. Received bytes are checked against the pattern {@code (offset % 251)}
     * when they are not all zero.
     */
    static class RecordingHandler implements ConnectionHandler {
        final boolean echo;
        final ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        final ConcurrentLinkedQueue<ByteBuffer> out = new ConcurrentLinkedQueue<>();
        /** Writer context only. */
        final ArrayDeque<ByteBuffer> inFlight = new ArrayDeque<>();
        final ConcurrentLinkedQueue<String> events = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> readerThreads = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> writerThreads = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        final AtomicInteger insideReader = new AtomicInteger();
        final AtomicInteger insideWriter = new AtomicInteger();
        /** Times a reader call and a writer call were seen running at once (allowed: the contexts are independent). */
        final AtomicInteger overlaps = new AtomicInteger();
        final AtomicInteger closedCalls = new AtomicInteger();
        final AtomicLong received = new AtomicLong();
        final AtomicLong written = new AtomicLong();
        final AtomicLong checksumErrors = new AtomicLong();
        final CompletableFuture<Throwable> closed = new CompletableFuture<>();
        volatile Transport transport;
        /** The writer context may run on a thread that is not an I/O thread (a write-through). */
        volatile boolean writeThroughAllowed;
        /** Echoes with {@code requestUrgentFlush} instead of {@code requestFlush}. */
        volatile boolean urgentEcho;

        RecordingHandler(final boolean echo) {
            this.echo = echo;
        }

        void send(final byte[] b) {
            out.add(ByteBuffer.wrap(b));
            transport.requestFlush();
        }

        private void enter(final String what, final boolean reader) {
            if ((reader ? insideReader : insideWriter).incrementAndGet() != 1) {
                violations.add(what + " overlapped another call of its context");
            }
            if ((reader ? insideWriter : insideReader).get() != 0) {
                overlaps.incrementAndGet();
            }
            if (!dev.braid.spi.IoThreads.isIoThread() && (reader || !writeThroughAllowed)) {
                violations.add(what + " on " + Thread.currentThread().getName() + ", not marked as an I/O thread");
            }
            if (closedCalls.get() != 0) {
                violations.add(what + " after onClosed");
            }
            if (transport == null && !what.equals("open")) {
                violations.add(what + " before onOpen");
            }
            (reader ? readerThreads : writerThreads).add(Thread.currentThread().getName());
        }

        private void exit(final boolean reader) {
            (reader ? insideReader : insideWriter).decrementAndGet();
        }

        @Override
        public void onOpen(final Transport t) {
            enter("open", true);
            transport = t;
            events.add("open");
            exit(true);
        }

        @Override
        public ByteBuffer inboundBuffer() {
            enter("inboundBuffer", true);
            exit(true);
            return in;
        }

        @Override
        public void onInbound(final int bytes) {
            enter("inbound", true);
            try {
                events.add("inbound:" + bytes);
                in.flip();
                if (in.hasRemaining()) {
                    final byte[] b = new byte[in.remaining()];
                    in.get(b);
                    long offset = received.get();
                    boolean zeros = true;
                    for (byte x : b) {
                        zeros &= x == 0;
                    }
                    if (!zeros) {
                        for (byte x : b) {
                            if (x != (byte) (offset++ % 251)) {
                                checksumErrors.incrementAndGet();
                            }
                        }
                    }
                    received.addAndGet(b.length);
                    if (echo) {
                        out.add(ByteBuffer.wrap(b));
                        if (urgentEcho) {
                            transport.requestUrgentFlush();
                        } else {
                            transport.requestFlush();
                        }
                    }
                }
                in.clear();
            } finally {
                exit(true);
            }
        }

        @Override
        public void onInputClosed() {
            enter("inputClosed", true);
            events.add("inputClosed");
            exit(true);
        }

        @Override
        public int gatherOutbound(final ByteBuffer[] dst) {
            enter("gather", false);
            ByteBuffer b;
            while ((b = out.poll()) != null) {
                inFlight.add(b);
            }
            int n = 0;
            for (ByteBuffer f : inFlight) {
                if (n == dst.length) {
                    break;
                }
                dst[n++] = f;
            }
            exit(false);
            return n;
        }

        @Override
        public void onOutboundWritten(final long bytes) {
            enter("written", false);
            written.addAndGet(bytes);
            while (!inFlight.isEmpty() && !inFlight.peek().hasRemaining()) {
                inFlight.poll();
            }
            exit(false);
        }

        @Override
        public void onClosed(final Throwable reason) {
            if (insideReader.get() != 0 || insideWriter.get() != 0) {
                violations.add("onClosed while another call runs");
            }
            if (closedCalls.incrementAndGet() != 1) {
                violations.add("onClosed twice");
            }
            events.add("closed");
            closed.complete(reason);
        }

        void assertClean() throws Exception {
            closed.get(10, TimeUnit.SECONDS); // each side's onClosed comes when its own threads end, in either order
            assertThat(violations).isEmpty();
            assertThat(closedCalls.get()).isEqualTo(1);
        }
    }
}
