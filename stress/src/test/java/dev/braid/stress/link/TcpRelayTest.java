package dev.braid.stress.link;

import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The relay form's behaviour, functionally: what must hold however loaded the machine is (bytes intact and
 * in order, never delivered early, never faster than the rate, bounded holding, each fault doing what it
 * says). Timing is asserted only as lower bounds, which a delay line guarantees; the rate and round trip it
 * reaches are checked by {@code braid-stress link-check}.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TcpRelayTest {
    private final List<AutoCloseable> resources = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
    }

    private <T extends AutoCloseable> T keep(final T r) {
        resources.add(r);
        return r;
    }

    private TcpRelay relayToProbe(final LinkSpec spec) throws IOException {
        final TcpProbe probe = keep(TcpProbe.listen(loopback()));
        return keep(TcpRelay.start(probe.address(), spec));
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    @Test
    void aPingPongTakesAtLeastTheRoundTripAndComesBackIntact() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(20), 0));
        final List<Long> rtts = new ArrayList<>();
        TcpProbe.pingPong(relay.address(), 5, 64, rtts::add);
        assertThat(rtts).hasSize(5).allSatisfy(rtt -> assertThat(rtt).isGreaterThanOrEqualTo(20_000_000L));
        try (SocketChannel c = SocketChannel.open(relay.address())) {
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            final byte[] sent = random(1 << 20, 1);
            final CompletableFuture<byte[]> back = CompletableFuture.supplyAsync(() -> readExactly(c, sent.length));
            c.write(ByteBuffer.wrap(sent));
            assertThat(back.get(10, TimeUnit.SECONDS)).isEqualTo(sent);
        }
    }

    @Test
    void jitterDelaysButNeverReorders() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), 50_000_000).withJitter(Duration.ofMillis(5)));
        try (SocketChannel c = SocketChannel.open(relay.address())) {
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            final byte[] sent = random(1 << 20, 2);
            final CompletableFuture<byte[]> back = CompletableFuture.supplyAsync(() -> readExactly(c, sent.length));
            for (int off = 0; off < sent.length; off += 1000) { // many small chunks, each with its own jitter
                c.write(ByteBuffer.wrap(sent, off, Math.min(1000, sent.length - off)));
            }
            assertThat(back.get(20, TimeUnit.SECONDS)).isEqualTo(sent);
        }
    }

    @Test
    void neverFasterThanTheRateAndARateChangeTakesEffect() throws Exception {
        final long rate = 8_000_000;
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), rate));
        final long t0 = System.nanoTime();
        final AtomicLong changedAt = new AtomicLong();
        final long total = TcpProbe.download(relay.address(), Duration.ofMillis(1500), bytes -> {
            if (bytes >= 4_000_000 && changedAt.get() == 0) {
                relay.control().setRate(rate / 4);
                changedAt.set(System.nanoTime());
            }
        });
        final double secs = (System.nanoTime() - t0) / 1e9;
        // at most rate x time (plus a chunk) before the change, a quarter of it after
        assertThat((double) total).isLessThanOrEqualTo(rate * secs + 65_536);
        if (changedAt.get() != 0) {
            final double after = (System.nanoTime() - changedAt.get()) / 1e9;
            // what was already scheduled at the old rate, plus what the client's socket may have held unread
            final long queued = relay.spec().bufferBytes() + 2 * 65_536 + (1 << 20);
            assertThat((double) total - 4_000_000).isLessThanOrEqualTo(rate / 4.0 * after + queued);
        }
    }

    @Test
    void aReceiverThatDoesNotReadPushesBackAndLosesNothing() throws Exception {
        try (ServerSocketChannel idle = ServerSocketChannel.open().bind(loopback())) {
            final TcpRelay relay = keep(TcpRelay.start((InetSocketAddress) idle.getLocalAddress(),
                    LinkSpec.of(Duration.ofMillis(2), 50_000_000)));
            try (SocketChannel c = SocketChannel.open(relay.address()); SocketChannel target = idle.accept()) {
                c.configureBlocking(false);
                final ByteBuffer chunk = ByteBuffer.wrap(random(65_536, 3));
                long written = 0;
                long lastProgress = System.nanoTime();
                while (System.nanoTime() - lastProgress < TimeUnit.MILLISECONDS.toNanos(500)) {
                    chunk.clear();
                    final int n = c.write(chunk);
                    if (n > 0) {
                        written += n;
                        lastProgress = System.nanoTime();
                    } else {
                        Thread.sleep(5);
                    }
                }
                final DelayLine line = relay.connections().get(0).line(RelayConnection.Direction.TO_TARGET);
                assertThat(line.peakHeldBytes()).isLessThanOrEqualTo(line.capBytes());
                assertThat(written).as("the sender was stopped").isLessThan(64L << 20);
                // now read: every byte written arrives
                target.configureBlocking(true);
                final ByteBuffer in = ByteBuffer.allocate(1 << 20);
                long read = 0;
                target.socket().setSoTimeout(2_000);
                while (read < written) {
                    in.clear();
                    final int n = target.read(in);
                    assertThat(n).isPositive();
                    read += n;
                }
                assertThat(read).isEqualTo(written);
            }
        }
    }

    @Test
    void aStallHoldsDeliveryUntilItEnds() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), 0));
        final List<Long> rtts = new ArrayList<>();
        TcpProbe.pingPong(relay.address(), 1, 64, rtts::add); // a first connection, unstalled
        try (SocketChannel c = SocketChannel.open(relay.address())) {
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            Thread.sleep(50);
            final long t0 = System.nanoTime(); // before the stall begins: nothing can arrive before t0 + 400 ms
            relay.control().stall(Duration.ofMillis(400));
            c.write(ByteBuffer.wrap(new byte[64]));
            assertThat(readExactly(c, 64)).hasSize(64);
            assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(400));
        }
    }

    @Test
    void aBlackholeDropsEverythingSilentlyUntilLifted() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), 0));
        try (SocketChannel c = SocketChannel.open(relay.address())) {
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            Thread.sleep(50);
            relay.control().blackhole(true);
            c.write(ByteBuffer.wrap(new byte[1000])); // the writer is not blocked: the relay takes and drops
            c.configureBlocking(false);
            final ByteBuffer in = ByteBuffer.allocate(2000);
            final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
            while (System.nanoTime() < end) {
                assertThat(c.read(in)).as("nothing comes back through a blackhole").isZero();
                Thread.sleep(10);
            }
            assertThat(relay.connections().get(0).line(RelayConnection.Direction.TO_TARGET).bytesDropped())
                    .isGreaterThanOrEqualTo(1000);
            relay.control().blackhole(false);
            c.configureBlocking(true);
            c.write(ByteBuffer.wrap(new byte[]{42}));
            assertThat(readExactly(c, 1)).containsExactly(42);
        }
    }

    @Test
    void aResetMidFrameCutsStrictlyInsideAFrameAndResetsBothSides() throws Exception {
        final int frame = 100_000;
        try (ServerSocketChannel framer = ServerSocketChannel.open().bind(loopback())) {
            final TcpRelay relay = keep(TcpRelay.start((InetSocketAddress) framer.getLocalAddress(),
                    LinkSpec.of(Duration.ofMillis(2), 100_000_000)));
            try (SocketChannel c = SocketChannel.open(relay.address()); SocketChannel target = framer.accept()) {
                final CompletableFuture<IOException> writerEnd = CompletableFuture.supplyAsync(() -> {
                    final ByteBuffer f = ByteBuffer.allocate(frame);
                    f.putInt(0, frame);
                    try {
                        while (true) {
                            f.clear();
                            target.write(f);
                        }
                    } catch (IOException e) {
                        return e;
                    }
                });
                final ByteBuffer in = ByteBuffer.allocate(1 << 16);
                long read = 0;
                while (read < 5L * frame) {
                    read += c.read(in.clear());
                }
                final FrameCut cut = relay.connections().get(0)
                        .resetMidFrame(RelayConnection.Direction.TO_CLIENT, 50_000).get(10, TimeUnit.SECONDS);
                assertThat(cut.frameLength()).isEqualTo(frame);
                assertThat(cut.offset() % frame).isNotZero();
                IOException readFailure = null;
                try {
                    int n;
                    while ((n = c.read(in.clear())) >= 0) {
                        read += n;
                    }
                } catch (IOException e) {
                    readFailure = e;
                }
                assertThat(readFailure).as("the client is reset, not closed").isNotNull();
                assertThat(read).as("everything up to the cut, nothing after").isEqualTo(cut.offset());
                assertThat(writerEnd.get(10, TimeUnit.SECONDS)).as("the target is reset too").isNotNull();
                assertThat(relay.connections().get(0).closeFuture().get(5, TimeUnit.SECONDS)).startsWith("reset");
            }
        }
    }

    @Test
    void aHalfCloseEndsOneDirectionAndTheOtherKeepsWorking() throws Exception {
        try (ServerSocketChannel sink = ServerSocketChannel.open().bind(loopback())) {
            final TcpRelay relay = keep(TcpRelay.start((InetSocketAddress) sink.getLocalAddress(),
                    LinkSpec.of(Duration.ofMillis(2), 0)));
            try (SocketChannel c = SocketChannel.open(relay.address()); SocketChannel target = sink.accept()) {
                relay.awaitConnection(1, Duration.ofSeconds(5)).halfClose(RelayConnection.Direction.TO_CLIENT);
                assertThat(c.read(ByteBuffer.allocate(16))).as("the client reads end of stream").isEqualTo(-1);
                c.write(ByteBuffer.wrap("still here".getBytes()));
                assertThat(new String(readExactly(target, 10))).isEqualTo("still here");
            }
        }
    }

    @Test
    void oneByteSegmentsDeliverEveryByteOnItsOwnIntact() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), 0));
        relay.control().oneByteSegments(true);
        try (SocketChannel c = SocketChannel.open(relay.address())) {
            c.write(ByteBuffer.wrap(new byte[]{'E'}));
            final byte[] sent = random(20_000, 4);
            c.write(ByteBuffer.wrap(sent));
            assertThat(readExactly(c, sent.length)).isEqualTo(sent);
            final DelayLine up = relay.connections().get(0).line(RelayConnection.Direction.TO_TARGET);
            // a write of n > 1 bytes leaves the writes n - 1 behind the bytes for good; the writer counts after
            // writing, so the two meet once it has counted its last write
            Await.until("one write per byte", Duration.ofSeconds(30), () -> up.itemsOut() == up.bytesOut(),
                    () -> up.itemsOut() + " writes, " + up.bytesOut() + " bytes");
        }
    }

    @Test
    void closingTheRelayEndsItsThreads() throws Exception {
        final TcpRelay relay = relayToProbe(LinkSpec.of(Duration.ofMillis(2), 0));
        TcpProbe.pingPong(relay.address(), 1, 8, rtt -> { });
        relay.close();
        Await.until("the relay's threads end", () -> Thread.getAllStackTraces().keySet().stream()
                .filter(Thread::isAlive).map(Thread::getName).noneMatch(n -> n.startsWith("link-relay-")));
    }

    static byte[] random(final int n, final long seed) {
        final byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    static byte[] readExactly(final SocketChannel c, final int n) {
        final ByteBuffer b = ByteBuffer.allocate(n);
        try {
            while (b.hasRemaining()) {
                if (c.read(b) < 0) {
                    return Arrays.copyOf(b.array(), b.position());
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return b.array();
    }
}
