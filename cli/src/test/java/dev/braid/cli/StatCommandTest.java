package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code braid stat} against an in-process {@code braid serve}: the connections and the open streams with
 * their counters, and a clear refusal from a server that does not share its statistics.
 */
class StatCommandTest {
    @TempDir
    Path root;

    private FileServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static Result stat(final String... args) {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(code, out.toString(), err.toString());
    }

    record Result(int code, String out, String err) {
    }

    private String endpoint() {
        final InetSocketAddress a = (InetSocketAddress) server.address();
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    @Test
    void showsTheConnectionsAndAnOpenDownloadWithItsQueues() throws Exception {
        Files.write(root.resolve("big.bin"), new byte[8 << 20]);
        server = FileServer.start(root, new InetSocketAddress("127.0.0.1", 0), new BraidConfig().backend("nio"),
                ServeLimits.DEFAULT, null, true, line -> { });
        try (Braid braid = Braid.create(new BraidConfig().backend("nio"));
             Connection c = braid.connect(server.address())) {
            // A download nobody reads: the server fills the client's window and then waits.
            final BraidStream down = c.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("big.bin", 0));
            Await.until("the client holds a full window", () -> down.queuedBytes() >= down.receiveWindow() / 2,
                    down::queuedBytes);
            final Result r = stat("stat", "--count", "1", endpoint());
            assertThat(r.code()).as(r.err()).isZero();
            final String local = String.valueOf(c.localAddress()).substring(1);
            assertThat(r.out()).contains("backend nio").contains("2 connections, 1 stream")
                    .contains(local).contains("(this view)").contains("DOWNLOAD #" + down.serial())
                    .contains("window").contains("credit");
            final Result two = stat("stat", "--count", "2", "--interval", "10ms", endpoint());
            assertThat(two.code()).as(two.err()).isZero();
            assertThat(two.out().split("braid stat ", -1)).hasSize(3); // two views, one after the other
            down.abort("the test is over");
        }
    }

    @Test
    void aServerWithoutStatsRefusesClearly() throws Exception {
        server = FileServer.start(root, new InetSocketAddress("127.0.0.1", 0), new BraidConfig().backend("nio"),
                ServeLimits.DEFAULT, null, false, line -> { });
        final Result r = stat("stat", endpoint());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("start it with braid serve --stats");
    }
}
