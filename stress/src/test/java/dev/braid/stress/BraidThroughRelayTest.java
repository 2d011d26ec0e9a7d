package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.StreamOptions;
import dev.braid.stress.link.DelayLine;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.RelayConnection;
import dev.braid.stress.link.TcpRelay;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

/**
 * braid through the relay's TCP-level faults the {@code wan} scenario does not run: one-byte segments (every
 * frame arrives a byte at a time: the decoder must reassemble it) and a half-close (the client reads end of
 * stream while its own direction still works: the connection must close, failing what was in flight once).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BraidThroughRelayTest {
    private static final LinkSpec LINK = LinkSpec.of(Duration.ofMillis(2), 0);

    @Test
    void callsAndAStreamSurviveOneByteSegmentsIntact() throws Exception {
        final ChecksummedStreams cs = new ChecksummedStreams(16 * 1024);
        // Window tuning off on both sides: its PING/PONG/WINDOW may still be crossing the relay byte by byte
        // when the two counters below are read, one after the other (seen: a 36-byte PONG between them).
        try (Braid serverBraid = Braid.create(new BraidConfig().windowAutoTuning(false));
             Braid clientBraid = Braid.create(new BraidConfig().windowAutoTuning(false))) {
            final BraidServer server = cs.register(new WanScenario().register(serverBraid.server())).bind(0);
            try (server; TcpRelay relay = TcpRelay.start(server.address(), LINK)) {
                relay.control().oneByteSegments(true);
                try (Connection c = clientBraid.connect(relay.address())) {
                    final byte[] args = new byte[64];
                    for (int i = 0; i < args.length; i++) {
                        args[i] = (byte) (i * 7 + 1);
                    }
                    for (int i = 0; i < 5; i++) {
                        assertThat(c.call(WanScenario.PING, args, CallOptions.DEFAULT)).isEqualTo(args);
                    }
                    final BraidStream down = ChecksummedStreams.open(c, ChecksummedStreams.DOWN, 7, 32 * 1024, 0,
                            StreamOptions.DEFAULT);
                    ChecksummedStreams.download(down, 7, 32 * 1024); // throws on a CRC32C mismatch
                    final BraidStream up = ChecksummedStreams.open(c, ChecksummedStreams.UP, 8, 32 * 1024, 0,
                            StreamOptions.DEFAULT);
                    cs.upload(up, 8, 32 * 1024);
                    final DelayLine down2 = relay.connections().get(0).line(RelayConnection.Direction.TO_CLIENT);
                    // A write of n > 1 bytes would leave the count of writes n - 1 behind the bytes for good; a
                    // delivery between the two reads (keepalive, credit) can make them differ for a moment
                    // only, so they must meet (they did not, when the reads were compared once after a wait).
                    Await.until("one write per byte towards the client", Duration.ofSeconds(30),
                            () -> down2.itemsOut() == down2.bytesOut(),
                            () -> down2.itemsOut() + " writes, " + down2.bytesOut() + " bytes");
                }
            }
            assertThat(Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(5))).isZero();
            assertThat(Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(5))).isZero();
        }
    }

    @Test
    void aHalfCloseTowardsTheClientClosesTheConnectionAndFailsEachCallOnce() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicInteger started = new java.util.concurrent.atomic.AtomicInteger();
        try (Braid serverBraid = Braid.create(new BraidConfig()); Braid clientBraid = Braid.create(new BraidConfig())) {
            final BraidServer server = serverBraid.server().handle(WanFaults.SLOW, call -> {
                started.incrementAndGet();
                release.await(30, TimeUnit.SECONDS);
                call.reply(call.args());
            }).bind(0);
            try (server; TcpRelay relay = TcpRelay.start(server.address(), LINK)) {
                final Connection c = clientBraid.connect(relay.address());
                final List<CompletableFuture<?>> calls = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    calls.add(c.callAsync(WanFaults.SLOW, ByteBuffer.allocate(8), CallOptions.DEFAULT));
                }
                Await.until("the server runs the 4 calls", () -> started.get() == 4, started::get);
                relay.connections().get(0).halfClose(RelayConnection.Direction.TO_CLIENT);
                final ConnectionClosedException closed = c.closeFuture().get(10, TimeUnit.SECONDS);
                assertThat(closed.reason()).isEqualTo(ConnectionClosedException.Reason.PEER_CLOSED);
                for (CompletableFuture<?> f : calls) {
                    final Throwable t = catchThrowable(() -> f.get(5, TimeUnit.SECONDS));
                    assertThat(t).isInstanceOf(ExecutionException.class);
                    assertThat(t.getCause()).isInstanceOf(ConnectionClosedException.class);
                }
                release.countDown();
                Await.until("the server dropped it too", () -> server.connections().isEmpty(), server::connections);
            }
            assertThat(Threads.awaitNoOutstanding(clientBraid.bufferPool(), Duration.ofSeconds(5))).isZero();
            assertThat(Threads.awaitNoOutstanding(serverBraid.bufferPool(), Duration.ofSeconds(5))).isZero();
        }
    }
}
