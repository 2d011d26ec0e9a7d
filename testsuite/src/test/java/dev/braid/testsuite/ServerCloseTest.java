package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11: {@code BraidServer.close} waits for its connections against one deadline ({@code closeTimeout}),
 * not one timeout per connection. Here every connection is stuck (a handler that blocks its I/O thread, which
 * a real handler must never do), so none can close in time: before the fix close waited
 * {@code closeTimeout} once per connection and logged each; now it waits once and logs one line with the count.
 */
class ServerCloseTest extends TransportTest {
    static final Procedure STUCK = Procedure.of(0x53545543, 1, 1); // "STUC"

    @Test
    void closeWaitsOnceForAllItsConnectionsNotOncePerConnection() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger entered = new AtomicInteger();
        final BraidServer server = server(config(true).closeTimeout(Duration.ofMillis(200)).keepaliveInterval(Duration.ZERO),
                s -> s.handle(STUCK, call -> {
                    entered.incrementAndGet();
                    release.await(); // blocks the I/O thread (nio, epoll) or the reader (loom) on purpose
                    call.reply(call.args());
                }, HandlerMode.NON_BLOCKING));
        closeLater(release::countDown); // runs first after the test, whatever happened: the loops go on
        final int n = 4;
        final List<Connection> clients = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            clients.add(connect(config(false).keepaliveInterval(Duration.ZERO), server)); // all connected first
        }
        Await.until("the server has every connection", () -> server.connections().size() == n);
        for (int i = 0; i < n; i++) {
            clients.get(i).callAsync(STUCK, new byte[]{(byte) i}) // nio, epoll: the first blocks the one loop
                    .whenComplete((reply, e) -> {
                        if (reply != null) {
                            reply.close(); // a stuck call may still be answered after the release: ours to free
                        }
                    });
        }
        Await.until("a handler is stuck", () -> entered.get() > 0);

        final List<String> warnings = new CopyOnWriteArrayList<>();
        final Handler capture = new Handler() {
            @Override
            public void publish(final LogRecord r) {
                warnings.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        final Logger jul = Logger.getLogger("dev.braid");
        jul.addHandler(capture);
        try {
            server.close();
        } finally {
            jul.removeHandler(capture);
            release.countDown();
        }
        assertThat(warnings).as("no per-connection timeout").noneMatch(w -> w.contains("did not close within"));
        assertThat(warnings).filteredOn(w -> w.contains("had not closed within closeTimeout = 200 ms")).hasSize(1);
    }
}
