package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class DisconnectTest extends TransportTest {
    static final Procedure HANG = Procedure.of(0x6666, 1, 1);
    static final Procedure SLOWISH = Procedure.of(0x6666, 1, 2);

    /** 1,000 calls pending when the connection goes: each fails exactly once, with the reason. */
    private void thousandPendingCallsFailOnceWhen(final boolean serverSideDrops, final Reason expected)
            throws Exception {
        final CountDownLatch never = new CountDownLatch(1);
        final AtomicInteger arrived = new AtomicInteger();
        final BraidServer server = server(s -> s.handle(HANG, call -> {
            arrived.incrementAndGet();
            never.await();
        }));
        final Connection c = connect(server);
        final List<CompletableFuture<Reply>> calls = new ArrayList<>();
        final AtomicInteger completions = new AtomicInteger();
        final List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 1000; i++) {
            final CompletableFuture<Reply> f = c.callAsync(HANG, new byte[16]);
            f.whenComplete((r, e) -> {
                errors.add(e); // before the count: the wait below reads the count, then the list
                completions.incrementAndGet();
            });
            calls.add(f);
        }
        Await.until("all 1000 calls reached the server", () -> arrived.get() == 1000, arrived::get);
        if (serverSideDrops) {
            server.close(); // the server drops the connection: the client sees the peer close
        } else {
            c.abort();
        }
        for (CompletableFuture<Reply> f : calls) {
            assertThat(f.handle((r, e) -> e).get(20, TimeUnit.SECONDS)).isNotNull();
        }
        // whenComplete callbacks can trail the get() above by a moment
        Await.until("every call's callback ran", () -> completions.get() >= 1000, completions::get);
        assertThat(completions.get()).isEqualTo(1000);
        assertThat(errors).hasSize(1000).allSatisfy(e -> assertThat(e)
                .isInstanceOfSatisfying(ConnectionClosedException.class, cce -> assertThat(cce.reason()).isEqualTo(expected)));
        assertThat(c.closeFuture().get(10, TimeUnit.SECONDS).reason()).isEqualTo(expected);
        never.countDown();
    }

    @Test
    void peerDisconnectFailsEachOfAThousandPendingCallsOnce() throws Exception {
        thousandPendingCallsFailOnceWhen(true, Reason.PEER_CLOSED);
    }

    @Test
    void localAbortFailsEachOfAThousandPendingCallsOnce() throws Exception {
        thousandPendingCallsFailOnceWhen(false, Reason.LOCAL_CLOSE);
    }

    @Test
    void gracefulCloseLetsInFlightCallsFinish() throws Exception {
        final BraidServer server = server(s -> s.handle(SLOWISH, call -> {
            Thread.sleep(200);
            call.reply(call.args());
        }));
        final Connection c = connect(config(false).closeTimeout(Duration.ofSeconds(10)), server);
        final List<CompletableFuture<Reply>> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(c.callAsync(SLOWISH, new byte[]{(byte) i}));
        }
        c.close();
        for (int i = 0; i < 50; i++) {
            try (Reply r = calls.get(i).get(30, TimeUnit.SECONDS)) {
                assertThat(r.toByteArray()).containsExactly((byte) i);
            }
        }
        assertThat(c.closeFuture().get(10, TimeUnit.SECONDS).reason()).isEqualTo(Reason.LOCAL_CLOSE);
    }

    @Test
    void gracefulCloseGivesUpAfterItsTimeout() throws Exception {
        final CountDownLatch never = new CountDownLatch(1);
        final BraidServer server = server(s -> s.handle(HANG, call -> never.await()));
        final Connection c = connect(config(false).closeTimeout(Duration.ofMillis(200)), server);
        final CompletableFuture<Reply> stuck = c.callAsync(HANG, new byte[0]);
        c.close();
        // the failure is decided by the close; the future completes on the callback executor (issue 14 §3)
        dev.braid.testing.Await.until("the stuck call failed", stuck::isDone);
        assertThat(stuck).isCompletedExceptionally();
        assertThat(stuck.handle((r, e) -> e).get()).isInstanceOfSatisfying(ConnectionClosedException.class,
                e -> assertThat(e.reason()).isEqualTo(Reason.LOCAL_CLOSE));
        never.countDown();
    }

    @Test
    void serverCloseAbortsItsConnectionsAndAnswersAreDropped() throws Exception {
        final CompletableFuture<Throwable> replyFailure = new CompletableFuture<>();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(s -> s.handle(HANG, call -> {
            entered.countDown();
            release.await();
            try {
                call.reply(new byte[100]); // after the connection is gone: dropped quietly, nothing leaks
            } catch (Throwable t) {
                replyFailure.complete(t);
            }
            replyFailure.complete(null);
        }));
        final Connection c = connect(server);
        final CompletableFuture<Reply> f = c.callAsync(HANG, new byte[0]);
        assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
        server.close();
        assertThat(f.handle((r, e) -> e).get(10, TimeUnit.SECONDS)).isInstanceOf(ConnectionClosedException.class);
        release.countDown();
        assertThat(replyFailure.get(10, TimeUnit.SECONDS)).isNull();
    }
}
