package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.Connection;
import dev.braid.buffer.BufferPool;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * SIGTERM stops {@code braid serve} within a bounded time: under the slow-reader attack (downloads nobody
 * reads, the stall timeout far away) the process exits with 143, and the shutdown's close is bounded by
 * {@link FileServer#runWithin} whatever braid does (the command line halts the process once
 * {@link ServeLimits#shutdownTimeout()} has passed; before, the shutdown hook waited on braid's close
 * without a bound, which an event loop that no longer runs never completes).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeShutdownTest {
    @TempDir
    Path base;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void sigtermStopsAServerHeldBySlowReaders(final String backend) throws Exception {
        final Path root = Files.createDirectories(base.resolve("root"));
        Files.write(root.resolve("big"), new byte[8 << 20]);
        final Process serve = FileCommandsTest.command("serve", "--root", root.toString(), "--backend", backend,
                "--stall-timeout", "10m", "--max-client-transfers", "64").redirectErrorStream(true).start();
        try {
            final BufferedReader r = new BufferedReader(new InputStreamReader(serve.getInputStream(),
                    StandardCharsets.UTF_8));
            String first = r.readLine();
            final List<String> before = new ArrayList<>();
            while (first != null && !first.contains("braid serve: serving")) { // a backend may log first
                before.add(first);
                first = r.readLine();
            }
            assertThat(first).as("serve's start line; before it: %s", before).isNotNull();
            final Matcher m = Pattern.compile(" on 127\\.0\\.0\\.1:(\\d+) ").matcher(first);
            assertThat(m.find()).as(first).isTrue();
            final InetSocketAddress address = new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(1)));
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    r.transferTo(java.io.Writer.nullWriter());
                } catch (java.io.IOException ignored) {
                    // the server went
                }
            });

            final Braid attacker = Braid.create(new BraidConfig().backend("nio").initialStreamWindow(64 * 1024));
            final BufferPool pool = attacker.bufferPool();
            try {
                final List<Connection> conns = new ArrayList<>();
                int stuck = 0;
                for (int c = 0; c < 4; c++) {
                    final Connection k = attacker.connect(address);
                    conns.add(k);
                    for (int i = 0; i < 16; i++) {
                        k.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("big", 0)); // never read
                        stuck++;
                    }
                }
                assertThat(stuck).isEqualTo(64); // the default --max-transfers
                final long t0 = System.nanoTime();
                serve.destroy(); // SIGTERM
                assertThat(serve.waitFor(ServeLimits.DEFAULT.shutdownTimeout().toSeconds() + 10, TimeUnit.SECONDS))
                        .as("serve stops on SIGTERM within its shutdown timeout (and a margin)").isTrue();
                assertThat(serve.exitValue()).isEqualTo(143);
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
                for (Connection k : conns) {
                    k.abort();
                }
            } finally {
                attacker.close();
            }
            LeakChecks.assertNoOutstandingBuffers(pool);
        } finally {
            serve.destroyForcibly();
        }
    }

    /** The bound itself: a close that never returns is given up after the timeout, its thread left behind. */
    @Test
    void aCloseThatNeverReturnsIsGivenUpAfterTheTimeout() throws Exception {
        final CountDownLatch never = new CountDownLatch(1);
        final long t0 = System.nanoTime();
        final boolean done = FileServer.runWithin(() -> {
            try {
                never.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, Duration.ofMillis(200), "braid-test-stuck-close");
        assertThat(done).isFalse();
        assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(200));
        never.countDown();
        assertThat(FileServer.runWithin(() -> { }, Duration.ofSeconds(10), "braid-test-close")).isTrue();
        LeakChecks.assertNoBraidThreads();
    }
}
