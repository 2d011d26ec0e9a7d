package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.LimitExceededException;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.internal.wire.FrameHeader;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LimitsTest extends TransportTest {
    static final Procedure GATED = Procedure.of(0x7777, 1, 1);

    /** Calls beyond the server's advertised limit wait in the client's queue, visibly, and all complete. */
    @Test
    void callsBeyondTheServersLimitQueueAtTheClient() throws Exception {
        final Semaphore gate = new Semaphore(0);
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        // No keepalive: this raw client never answers a PING, and one would interleave with the replies read below.
        final BraidServer server = server(config(true).maxOutstandingCalls(4).keepaliveInterval(java.time.Duration.ZERO),
                s -> s.handle(GATED, call -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            gate.acquire();
            concurrent.decrementAndGet();
            call.reply(call.args());
        }));
        final Connection c = connect(server);
        assertThat(c.limits().maxOutstandingCalls()).isEqualTo(4);
        final List<CompletableFuture<Reply>> calls = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            calls.add(c.callAsync(GATED, new byte[]{(byte) i}));
        }
        assertThat(c.stats().callsQueued()).isEqualTo(96);
        assertThat(c.stats().callsInFlight()).isEqualTo(4);
        gate.release(100);
        for (int i = 0; i < 100; i++) {
            try (Reply r = calls.get(i).get(20, TimeUnit.SECONDS)) {
                assertThat(r.toByteArray()).containsExactly((byte) i);
            }
        }
        assertThat(maxConcurrent.get()).isLessThanOrEqualTo(4);
        assertThat(c.stats().callsQueued()).isZero();
        final Peer atServer = server.connections().get(0);
        assertThat(atServer.stats().readSuspensions()).as("a braid client never makes the server stop reading").isZero();
    }

    @Test
    void theClientsQueueIsBoundedAndTheErrorNamesTheLimit() throws Exception {
        final Semaphore gate = new Semaphore(0);
        final BraidServer server = server(config(true).maxOutstandingCalls(2), s -> s.handle(GATED, call -> {
            gate.acquire();
            call.reply(call.args());
        }));
        final Connection c = connect(config(false).maxQueuedCalls(3), server);
        final List<CompletableFuture<Reply>> calls = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            calls.add(c.callAsync(GATED, new byte[0]));
        }
        assertThatThrownBy(() -> c.callAsync(GATED, new byte[0]))
                .isInstanceOfSatisfying(LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxQueuedCalls");
                    assertThat(e.value()).isEqualTo(3);
                });
        gate.release(5);
        for (CompletableFuture<Reply> f : calls) {
            f.get(10, TimeUnit.SECONDS).close();
        }
    }

    /** Two busy peers never stop each other: 200 calls of 1 MiB at once, echoed. */
    @Test
    void twoPeersWithMoreThanTheHighWaterMarkQueuedBothWayStillProgress() throws Exception {
        final BraidServer server = server(config(true).maxOutstandingCalls(256), s -> s.handle(GATED,
                call -> call.reply(call.args())));
        final Connection c = connect(server);
        final java.util.List<CompletableFuture<Reply>> all = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            all.add(c.callAsync(GATED, new byte[1 << 20]));
        }
        for (CompletableFuture<Reply> f : all) {
            try (Reply r = f.get(60, TimeUnit.SECONDS)) {
                assertThat(r.payload().remaining()).isEqualTo(1 << 20);
            }
        }
    }

    /**
     * A timed-out call keeps its slot until its late reply arrives: the server still holds it, and a braid
     * client never exceeds the server's advertised limit.
     */
    @Test
    void aTimedOutCallKeepsItsSlotUntilItsLateReply() throws Exception {
        final Semaphore gate = new Semaphore(0);
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        final BraidServer server = server(config(true).maxOutstandingCalls(1), s -> s.handle(GATED, call -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            gate.acquire();
            concurrent.decrementAndGet();
            call.reply(call.args());
        }));
        final Connection c = connect(server);
        final CompletableFuture<Reply> slow = c.callAsync(GATED, ByteBuffer.wrap(new byte[]{1}),
                dev.braid.CallOptions.timeout(java.time.Duration.ofMillis(50)));
        assertThatThrownBy(() -> slow.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(dev.braid.CallTimeoutException.class);
        final CompletableFuture<Reply> next = c.callAsync(GATED, new byte[]{2});
        assertThat(c.stats().callsQueued()).as("waits for the timed-out call's slot").isEqualTo(1);
        gate.release(2);
        try (Reply r = next.get(10, TimeUnit.SECONDS)) {
            assertThat(r.toByteArray()).containsExactly(2);
        }
        assertThat(c.stats().lateReplies()).isEqualTo(1);
        assertThat(maxConcurrent.get()).isEqualTo(1);
        assertThat(server.connections().get(0).stats().readSuspensions()).isZero();
    }

    /**
     * A client that sends calls but never reads the answers: once 8 MiB of answers wait in braid, the server
     * stops reading its calls, so memory stays bounded; when the client reads, everything is answered.
     */
    @Test
    void aClientThatDoesNotReadMakesTheServerStopReadingItsCalls() throws Exception {
        final BraidServer server = server(config(true).maxOutstandingCalls(64), s -> s.handle(GATED,
                call -> call.reply(new byte[64 * 1024]), dev.braid.HandlerMode.NON_BLOCKING));
        final int calls = 2000; // 125 MiB of answers if nothing pushed back
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            raw.setSoTimeout(30_000);
            final Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    final DataOutputStream out = new DataOutputStream(raw.getOutputStream());
                    for (int i = 1; i <= calls; i++) {
                        out.write(ScriptedServer.frame(0x7777, 1, 1, FrameHeader.TYPE_CALL, i, FrameHeader.STATUS_OK,
                                new byte[0]).array());
                    }
                    out.flush();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while ((server.connections().isEmpty() || server.connections().get(0).stats().outboundSuspensions() == 0)
                    && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            final Peer atServer = server.connections().get(0);
            assertThat(atServer.stats().outboundSuspensions()).isPositive();
            Thread.sleep(200);
            assertThat(pool.allocatedBytes()).as("pooled memory while the client does not read")
                    .isLessThan(48L << 20);
            final DataInputStream in = new DataInputStream(raw.getInputStream());
            for (int i = 0; i < calls; i++) {
                final int len = in.readInt();
                in.readFully(new byte[len - 4]);
            }
            writer.join(10_000);
            assertThat(atServer.stats().callsServed()).isEqualTo(calls);
        }
    }

    /**
     * A client that ignores the advertised limit (here: raw bytes, 40 calls at once against a limit of 4)
     * makes the server stop reading until calls complete; every call is still answered.
     */
    @Test
    void aClientIgnoringTheLimitMakesTheServerStopReadingUntilCallsComplete() throws Exception {
        final Semaphore gate = new Semaphore(0);
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        // No keepalive: this raw client never answers a PING, and one would interleave with the replies read below.
        final BraidServer server = server(config(true).maxOutstandingCalls(4).keepaliveInterval(java.time.Duration.ZERO),
                s -> s.handle(GATED, call -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            gate.acquire();
            concurrent.decrementAndGet();
            call.reply(call.args());
        }));
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            raw.setSoTimeout(20_000);
            final DataOutputStream out = new DataOutputStream(raw.getOutputStream());
            for (int i = 1; i <= 40; i++) {
                final ByteBuffer f = ScriptedServer.frame(0x7777, 1, 1, FrameHeader.TYPE_CALL, i, FrameHeader.STATUS_OK,
                        new byte[]{(byte) i});
                out.write(f.array());
            }
            out.flush();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (concurrent.get() < 4 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            Thread.sleep(100); // give a non-suspending server the chance to start more than 4
            assertThat(concurrent.get()).isEqualTo(4);
            assertThat(server.connections().get(0).stats().readSuspensions()).isPositive();
            gate.release(40);
            final DataInputStream in = new DataInputStream(raw.getInputStream());
            final Set<Integer> answered = new HashSet<>();
            for (int i = 0; i < 40; i++) {
                final int len = in.readInt();
                final byte[] rest = new byte[len - 4];
                in.readFully(rest);
                final ByteBuffer b = ByteBuffer.wrap(rest);
                assertThat(b.getInt(FrameHeader.TYPE_OFFSET - 4)).isEqualTo(FrameHeader.TYPE_REPLY);
                assertThat(b.getInt(FrameHeader.STATUS_OFFSET - 4)).isEqualTo(FrameHeader.STATUS_OK);
                answered.add(b.getInt(FrameHeader.SERIAL_OFFSET - 4));
            }
            assertThat(answered).hasSize(40);
            assertThat(maxConcurrent.get()).isEqualTo(4);
        }
    }
}
