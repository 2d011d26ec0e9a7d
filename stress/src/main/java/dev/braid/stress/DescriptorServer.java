package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.HandlerMode;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The server of the {@code descriptors} attack ({@link AttackScenario}), run as a child process under
 * {@code prlimit --nofile=N:N} so that its descriptors, not the attacker's, run out: a braid server answering
 * {@link AttackScenario#ECHO} on loopback. It prints {@code PORT <port>} on stdout once it listens, then serves
 * until its stdin ends (the scenario closes it) or {@link #MAX_LIFETIME_MILLIS} has passed, so it never
 * outlives the scenario. Before it says it listens it serves two calls of its own (see {@code main}). Its log (java.util.logging, one line a record) goes to stderr, which the scenario reads.
 */
final class DescriptorServer {
    /** The longest the child runs, whatever the scenario does. */
    static final long MAX_LIFETIME_MILLIS = 300_000;

    private DescriptorServer() {
    }

    /**
     * Serves until stdin ends.
     *
     * @param args none
     * @throws Exception if the server cannot start
     */
    public static void main(final String[] args) throws Exception {
        final Thread deadline = Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(MAX_LIFETIME_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("DescriptorServer: lifetime over, exiting");
            Runtime.getRuntime().halt(3);
        });
        try (Braid braid = Braid.create(new BraidConfig())) {
            final BraidServer server = braid.server()
                    .handle(AttackScenario.ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            // serve a client first, as a server under attack has: the classes of accepting, HELLO, a call and the
            // closes are loaded while files can be opened (a class path of directories opens one file a class,
            // and a class that fails to load under EMFILE stays failed)
            try (Braid warm = Braid.create(new BraidConfig())) {
                for (int i = 0; i < 2; i++) {
                    final dev.braid.Connection c = warm.connect(server.address());
                    c.call(AttackScenario.ECHO, new byte[8]);
                    if (i == 0) {
                        c.close();
                    } else {
                        c.abort();
                    }
                }
            }
            System.out.println("PORT " + server.address().getPort());
            System.out.flush();
            final InputStream in = System.in;
            while (in.read() >= 0) {
                // the scenario says nothing on stdin; its end is the signal to stop
            }
            server.close();
        }
        deadline.interrupt();
    }
}
