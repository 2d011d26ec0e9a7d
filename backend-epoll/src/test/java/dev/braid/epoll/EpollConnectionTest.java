package dev.braid.epoll;

import dev.braid.BraidConfig;
import dev.braid.ConnectionClosedException;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.Transport;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The epoll backend against plain blocking sockets, for the paths the transport suite reaches rarely or not
 * at all: bytes Netty reads while reading is suspended (after the peer's FIN), the writer waiting for
 * EPOLLOUT, socket options, a refused connect, shutdown. Every test ends with no backend thread alive and
 * no Netty leak report.
 */
class EpollConnectionTest {
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final long WAIT = 10;

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private String prefix;

    @BeforeAll
    static void nettyLeakReports() {
        NettyLeakReports.install();
    }

    private BackendInstance start(final int sendBufferSize) {
        assertThat(new EpollBackend().isAvailable()).as("epoll on this machine: %s", new EpollBackend().unavailabilityCause())
                .isTrue();
        prefix = "braid-t" + INSTANCES.incrementAndGet() + "-epoll";
        final BackendInstance b = new EpollBackend().start(new BackendSettings(1, prefix, sendBufferSize, 0, 5_000));
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
            // close() waits for the loop group to terminate; the threads themselves exit a moment later
            Await.until("the backend's threads ended", () -> braidThreads().isEmpty(), this::braidThreads);
        }
        assertThat(NettyLeakReports.collect()).as("Netty leak reports").isEmpty();
    }

    private java.util.List<Thread> braidThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix))
                .toList();
    }

    private static byte[] pattern(final int n, final long seed) {
        final byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Runs {@code query} on the connection's event loop (its state is loop-confined) and returns its answer. */
    private static <T> T onLoop(final EpollConnection c, final java.util.concurrent.Callable<T> query) {
        try {
            return c.channel().eventLoop().submit(query).get(WAIT, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("a task on the event loop failed", e);
        }
    }

    private static InetSocketAddress loopback(final int port) {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    @Test
    void reportsItselfAsNettysEpoll() {
        final EpollBackend b = new EpollBackend();
        assertThat(b.name()).isEqualTo("epoll");
        assertThat(b.autoPriority()).isGreaterThan(10); // above nio: auto prefers it
        assertThat(b.isAvailable()).isTrue();
        assertThat(b.unavailabilityCause()).isNull();
    }

    @Test
    void bytesReadWhileSuspendedArriveInOrderOnResumeAndEndOfStreamComesAfterThem() throws Exception {
        final BackendInstance backend = start(0);
        final ServerSocket server = later(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        final RecordingHandler h = new RecordingHandler(1000);
        h.atOpen = () -> h.transport().setReadSuspended(true); // reader context: suspended before any read
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        final byte[] data = pattern(40_000, 1); // fits in the receive buffer: the FIN arrives behind it
        try (Socket peer = server.accept()) {
            peer.getOutputStream().write(data);
        } // closed: FIN, so Netty sees EPOLLRDHUP and reads everything although reading is suspended
        // Netty shuts the input down, and tells the connection, once it has read up to the FIN: by then every
        // byte has reached the connection, which must hold them while suspended.
        final EpollConnection c = (EpollConnection) h.transport();
        Await.until("Netty read up to the peer's FIN", () -> onLoop(c, () -> c.channel().isInputShutdown()));
        assertThat(h.received()).as("nothing is delivered while suspended").isEmpty();
        assertThat(h.events).containsExactly("open");

        // The handler suspends again half way through; a second resume finishes the delivery.
        final CompletableFuture<Void> halfWay = new CompletableFuture<>();
        h.afterInbound = (chunk, total) -> {
            if (total >= data.length / 2 && !halfWay.isDone()) {
                h.transport().setReadSuspended(true);
                halfWay.complete(null);
            }
        };
        h.transport().setReadSuspended(false);
        halfWay.get(WAIT, TimeUnit.SECONDS);
        onLoop(c, () -> null); // the resume's delivery has returned: had it ignored the suspension, all would be in
        assertThat(h.received().length).isLessThan(data.length);
        assertThat(h.closed).isNotDone();
        h.transport().setReadSuspended(false);

        final Throwable reason = h.closed.get(WAIT, TimeUnit.SECONDS);
        assertThat(h.received()).isEqualTo(data);
        assertThat(reason).isInstanceOf(ConnectionClosedException.class);
        assertThat(((ConnectionClosedException) reason).reason()).isEqualTo(ConnectionClosedException.Reason.PEER_CLOSED);
        final List<String> ev = List.copyOf(h.events);
        assertThat(ev.get(0)).isEqualTo("open");
        assertThat(ev.get(1)).as("a resume first reports 0 bytes").isEqualTo("resume");
        assertThat(ev.subList(ev.size() - 2, ev.size())).containsExactly("eof", "closed");
        assertThat(h.violations).isEmpty();
    }

    @Test
    void writerWaitsForEpollOutAndEveryByteLeavesOnceInOrder() throws Exception {
        final BackendInstance backend = start(0);
        final ServerSocket server = later(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        final RecordingHandler h = new RecordingHandler(4096);
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        final Socket peer = later(server.accept());
        final byte[][] parts = new byte[8][];
        int total = 0;
        for (int i = 0; i < parts.length; i++) {
            parts[i] = pattern(2_000_000 + i * 1_000, 10 + i);
            total += parts[i].length;
        }
        // Producers on other threads, as the engine's callers: a flush is asked for while the writer waits.
        final Thread producer = new Thread(() -> {
            for (byte[] p : parts) {
                h.send(p, 50_000 + p.length % 7_919); // odd sizes: buffers end mid-write
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        producer.start();
        final EpollConnection c = (EpollConnection) h.transport();
        // nobody reads yet: the socket fills up and the writer waits for EPOLLOUT
        Await.until("the writer waits for EPOLLOUT", () -> onLoop(c, c::writableWaits) > 0);
        final byte[] got = peer.getInputStream().readNBytes(total);
        producer.join();
        final byte[] expected = new byte[total];
        int off = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, expected, off, p.length);
            off += p.length;
        }
        assertThat(Arrays.equals(got, expected)).as("bytes received in order, none twice, none missing").isTrue();
        assertThat(h.written.get()).isEqualTo(total);
        assertThat(onLoop(c, c::writableWaits)).as("times the writer waited for EPOLLOUT").isPositive();
        h.transport().close(new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, "done", null));
        assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).hasMessageContaining("done");
        assertThat(h.violations).isEmpty();
    }

    @Test
    void acceptsAndEchoes() throws Exception {
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
            assertThat(h.transport().backendName()).isEqualTo("epoll");
            s.shutdownOutput();
            assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).isInstanceOf(ConnectionClosedException.class);
            assertThat(h.violations).isEmpty();
        }
    }

    @Test
    void socketOptionsAreSetAsConfigured() throws Exception {
        final ServerSocket server = later(new ServerSocket(0, 8, InetAddress.getLoopbackAddress()));
        final EpollSocketChannelView withDefault = connectAndView(start(BraidConfig.DEFAULT_SOCKET_SEND_BUFFER), server);
        assertThat(withDefault.notSentLowAt).isEqualTo(128 * 1024);
        assertThat(withDefault.tcpNoDelay).isTrue();
        // Linux reports twice what was set
        assertThat(withDefault.sendBufferSize).isEqualTo(2 * BraidConfig.DEFAULT_SOCKET_SEND_BUFFER);
        assertThat(connectAndView(start(100_000), server).sendBufferSize).isEqualTo(200_000);
    }

    @Test
    void notSentLowatBoundsWhatAPeerThatDoesNotReadLeavesInTheKernel() throws Exception {
        final BackendInstance backend = start(0); // SO_SNDBUF autotuned: without TCP_NOTSENT_LOWAT, ~4 MB fit
        final ServerSocket server = later(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        final RecordingHandler h = new RecordingHandler(1024);
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        final Socket peer = later(server.accept());
        h.send(new byte[16 << 20], 256 * 1024);
        final EpollConnection c = (EpollConnection) h.transport();
        Await.until("the socket took no more: the writer waits for EPOLLOUT", () -> onLoop(c, c::writableWaits) > 0);
        // the peer's receive queue (64 KiB here, the peer never read so it did not grow) + 128 KiB unsent + slack
        assertThat(h.written.get()).isGreaterThanOrEqualTo(128L * 1024);
        Await.during("what the kernel holds stays bounded", Duration.ofMillis(200), () -> h.written.get() <= 1L << 20,
                h.written::get);
        peer.close();
        assertThat(h.closed.get(WAIT, TimeUnit.SECONDS)).isNotNull();
    }

    private record EpollSocketChannelView(long notSentLowAt, boolean tcpNoDelay, int sendBufferSize) {
    }

    private EpollSocketChannelView connectAndView(final BackendInstance backend, final ServerSocket server) throws Exception {
        final RecordingHandler h = new RecordingHandler(1024);
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        later(server.accept());
        final EpollConnection c = (EpollConnection) h.transport();
        final io.netty.channel.epoll.EpollSocketChannelConfig config =
                ((io.netty.channel.epoll.EpollSocketChannel) c.channel()).config();
        return new EpollSocketChannelView(config.getTcpNotSentLowAt(), config.isTcpNoDelay(), config.getSendBufferSize());
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
        backend.close(); // ends the loop: whatever it would have called is called by now
        assertThat(h.events).isEmpty();
    }

    @Test
    void closeClosesEveryConnectionFirstThenEndsTheThreads() throws Exception {
        final BackendInstance backend = start(0);
        final ServerSocket server = later(new ServerSocket(0, 8, InetAddress.getLoopbackAddress()));
        final RecordingHandler h = new RecordingHandler(1024);
        backend.connect(loopback(server.getLocalPort()), h).get(WAIT, TimeUnit.SECONDS);
        final Socket peer = later(server.accept());
        final byte[] goodbye = pattern(100, 3);
        h.send(goodbye, 100);
        assertThat(peer.getInputStream().readNBytes(goodbye.length)).isEqualTo(goodbye);
        assertThat(Thread.getAllStackTraces().keySet().stream().map(Thread::getName)).contains(prefix + "-io-0");

        backend.close();
        assertThat(h.closed).isDone();
        assertThat(h.closed.get()).hasMessageContaining("braid is closing");
        assertThat(((ConnectionClosedException) h.closed.get()).reason()).isEqualTo(ConnectionClosedException.Reason.LOCAL_CLOSE);
        assertThat(peer.getInputStream().read()).as("the peer sees end of stream").isEqualTo(-1);
        // close() returned once the loop group terminated; the threads themselves exit a moment later
        Await.until("the backend's threads ended", () -> braidThreads().isEmpty(), this::braidThreads);
        // a request after the loops are gone is harmless
        final Transport t = h.transport();
        t.requestFlush();
        t.setReadSuspended(true);
        t.setReadSuspended(false);
        assertThat(h.violations).isEmpty();
    }
}
