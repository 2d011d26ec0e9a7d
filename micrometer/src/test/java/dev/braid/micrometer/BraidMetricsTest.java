package dev.braid.micrometer;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import dev.braid.buffer.BufferPool;
import dev.braid.testing.Await;
import dev.braid.testing.LeakChecks;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The binding's meters count what happened, on loopback with the nio backend. */
class BraidMetricsTest {
    static final Procedure ECHO = Procedure.of(0x4d4d, 1, 1);
    static final Procedure UPLOAD = Procedure.of(0x4d4d, 1, 2);
    static final Procedure TICK = Procedure.of(0x4d4d, 1, 3);
    static final int HEADER = 28;

    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
    private SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private BraidMetrics metrics = new BraidMetrics(registry, p -> p.equals(ECHO) ? "echo" : p.toString());

    @AfterEach
    void noLeaks() {
        LeakChecks.assertNoOutstandingBuffers(pool);
        LeakChecks.assertNoBraidThreads();
    }

    private BraidConfig config() {
        return new BraidConfig().backend("nio").bufferPool(pool).observer(metrics).maxMessageSize(64 * 1024);
    }

    /** Echo calls that ended OK on {@code side}, whichever kind of timer counts them. */
    private double calls(final String side) {
        final var search = registry.find("braid.calls").tags("side", side, "procedure", "echo", "outcome", "ok");
        final FunctionTimer f = search.functionTimer();
        final Timer t = search.timer();
        return f != null ? f.count() : t != null ? t.count() : 0;
    }

    private double callNanos(final String side) {
        final var search = registry.find("braid.calls").tags("side", side, "procedure", "echo", "outcome", "ok");
        final FunctionTimer f = search.functionTimer();
        return f != null ? f.totalTime(TimeUnit.NANOSECONDS) : search.timer().totalTime(TimeUnit.NANOSECONDS);
    }

    private double gauge(final String name, final String side) {
        final Gauge g = registry.find(name).tag("side", side).gauge();
        return g == null ? -1 : g.value();
    }

    @Test
    void withFullTimersCallsAreMicrometerTimers() throws Exception {
        registry = new SimpleMeterRegistry(); // one BraidMetrics per registry: its gauges are registered once
        metrics = new BraidMetrics(registry, p -> p.equals(ECHO) ? "echo" : p.toString(), true);
        callsStreamsRefusalsAndConnectionsAreMetered();
        assertThat(registry.get("braid.calls").tags("side", "client", "outcome", "ok").timer().max(TimeUnit.NANOSECONDS))
                .isPositive();
    }

    @Test
    void callsStreamsRefusalsAndConnectionsAreMetered() throws Exception {
        final CountDownLatch finish = new CountDownLatch(1);
        try (Braid serverBraid = Braid.create(config()); Braid clientBraid = Braid.create(config())) {
            final BraidServer server = serverBraid.server()
                    .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                    .stream(UPLOAD, (call, stream) -> {
                        call.reply(new byte[0]);
                        finish.await();
                        final ByteBuffer b = ByteBuffer.allocate(4096);
                        while (stream.read(b.clear()) >= 0) {
                            // drain
                        }
                        stream.finish();
                    })
                    .bind(0);
            long written;
            try (server; Connection c = clientBraid.connect(server.address())) {
                for (int i = 0; i < 3; i++) {
                    c.call(ECHO, new byte[8]);
                }
                Await.until("three client calls timed", () -> calls("client") == 3, () -> calls("client"));
                assertThat(callNanos("client")).isPositive();
                Await.until("three server calls timed", () -> calls("server") == 3, () -> calls("server"));
                if (registry.find("braid.calls").timer() != null) { // full timers: bytes per procedure too
                    assertThat(registry.get("braid.call.request.bytes").tags("side", "client", "procedure", "echo")
                            .functionCounter().count()).isEqualTo(3 * (HEADER + 8));
                    assertThat(registry.get("braid.call.reply.bytes").tags("side", "client", "procedure", "echo")
                            .functionCounter().count()).isEqualTo(3 * (HEADER + 8));
                }
                assertThat(registry.get("braid.bytes").tags("side", "client", "direction", "written")
                        .functionCounter().count()).isPositive().isLessThanOrEqualTo(c.stats().bytesWritten());
                assertThat(gauge("braid.connections", "client")).isEqualTo(1);
                assertThat(gauge("braid.connections", "server")).isEqualTo(1);

                final BraidStream up = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
                up.write(ByteBuffer.allocate(10_000));
                assertThat(gauge("braid.streams.open", "client")).isEqualTo(1);
                Await.until("the server holds the stream's bytes", () -> registry.find("braid.stream.queued.bytes")
                        .tags("side", "server", "direction", "received").gauge().value() > 0);
                assertThat(gauge("braid.stream.receive.window", "server")).isEqualTo(new BraidConfig()
                        .initialStreamWindow());
                finish.countDown();
                up.finish();
                final Timer streams = registry.get("braid.streams").tags("side", "client", "outcome", "finished")
                        .timer();
                Await.until("the client's stream is timed", () -> streams.count() == 1, streams::count);
                assertThat(registry.get("braid.stream.bytes").tags("side", "client", "direction", "sent").counter()
                        .count()).isEqualTo(10_000);

                assertThatThrownBy(() -> c.sendEvent(TICK, ByteBuffer.allocate(100_000)))
                        .isInstanceOf(LimitExceededException.class);
                final Counter refused = registry.get("braid.limit.refusals").tags("side", "client",
                        "limit", "maxMessageSize").counter();
                assertThat(refused.count()).isEqualTo(1);
                written = (long) registry.get("braid.bytes").tags("side", "client", "direction", "written")
                        .functionCounter().count();
                assertThat(written).isPositive();
            }
            Await.until("no connection left", () -> gauge("braid.connections", "client") == 0
                    && gauge("braid.connections", "server") == 0);
            assertThat(registry.get("braid.connections.closed").tags("side", "client", "reason", "local_close")
                    .counter().count()).isEqualTo(1);
            assertThat(registry.get("braid.connections.opened").tags("side", "server").counter().count())
                    .isEqualTo(1);
            assertThat(registry.get("braid.bytes").tags("side", "client", "direction", "written").functionCounter()
                    .count()).as("a closed connection's bytes stay counted").isGreaterThanOrEqualTo(written);
        }
    }

    /** Procedures sharing a slot of the binding's cache (numbers 64 apart, or other programs) keep their own meters. */
    @Test
    void proceduresSharingACacheSlotKeepTheirOwnMeters() {
        final BraidMetrics m = new BraidMetrics(registry);
        final Procedure a = Procedure.of(0x4d4d, 1, 5);
        final Procedure b = Procedure.of(0x4d4d, 1, 5 + 64);
        final Procedure c = Procedure.of(0x4d4e, 1, 5);
        final int[] counts = {3, 5, 7};
        final Procedure[] ps = {a, b, c};
        for (int round = 0; round < 7; round++) {
            for (int k = 0; k < 3; k++) {
                if (round < counts[k]) { // interleaved, so each procedure keeps evicting the others from the slot
                    m.callEnded(null, dev.braid.BraidObserver.Side.CLIENT, Procedure.of(ps[k].program(),
                                    ps[k].version(), ps[k].procedure()), round, dev.braid.BraidObserver.CallOutcome.OK,
                            1000 * (k + 1), 0, 0);
                }
            }
        }
        for (int k = 0; k < 3; k++) {
            final FunctionTimer t = registry.find("braid.calls").tags("side", "client", "procedure", ps[k].toString(),
                    "outcome", "ok").functionTimer();
            assertThat(t).as(ps[k].toString()).isNotNull();
            assertThat(t.count()).as(ps[k].toString()).isEqualTo(counts[k]);
            assertThat(t.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(counts[k] * 1000.0 * (k + 1));
        }
    }
}
