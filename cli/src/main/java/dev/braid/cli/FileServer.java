package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * What {@code braid serve} runs: a braid server for the file procedures (and a console, if asked for) over
 * one directory, within {@link ServeLimits}. {@link ServeCommand} wraps it in a command line; tests and the
 * stress suite ({@code serve-slow-readers}) start it in process, which is what the public methods are for.
 *
 * <p>Thread-safe. {@link #close()} is idempotent and may be called from any thread, a shutdown hook
 * included; {@link #closeWithin} bounds how long it may take.
 */
public final class FileServer implements AutoCloseable {
    private final RootedPaths paths;
    private final Braid braid;
    private final BraidServer server;
    private final TransferGate gate;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private FileServer(final RootedPaths paths, final Braid braid, final BraidServer server, final TransferGate gate) {
        this.paths = paths;
        this.braid = braid;
        this.server = server;
        this.gate = gate;
    }

    /**
     * Serves {@code root} on {@code address}.
     *
     * @param config  braid's configuration (backend and the engine's own limits)
     * @param console the console command, or null for none
     * @param log     takes one line per finished or failed transfer (thread-safe)
     * @throws IOException if {@code root} is not a directory
     * @throws RuntimeException if the address cannot be bound (braid's own exception)
     */
    public static FileServer start(final Path root, final SocketAddress address, final BraidConfig config,
                            final ServeLimits limits, final String console, final Consumer<String> log)
            throws IOException {
        return start(root, address, config, limits, console, false, log);
    }

    /**
     * Serves {@code root} on {@code address}; with {@code stats}, also answers STATS (every connection's and
     * stream's counters, for {@code braid stat}).
     *
     * @param config  braid's configuration (backend and the engine's own limits)
     * @param console the console command, or null for none
     * @param stats   whether to answer STATS (off: it is refused with {@code ERR_STATS_OFF})
     * @param log     takes one line per finished or failed transfer (thread-safe)
     * @throws IOException if {@code root} is not a directory
     * @throws RuntimeException if the address cannot be bound (braid's own exception)
     */
    public static FileServer start(final Path root, final SocketAddress address, final BraidConfig config,
                                   final ServeLimits limits, final String console, final boolean stats,
                                   final Consumer<String> log) throws IOException {
        final RootedPaths paths = new RootedPaths(root);
        final Braid braid = Braid.create(config);
        final TransferGate gate = new TransferGate(limits);
        try {
            final FileService files = new FileService(paths, limits, gate, braid.bufferPool(), log);
            final BraidServer.Builder b = braid.server()
                    .handle(FileProtocol.LIST, files::list)
                    .stream(FileProtocol.DOWNLOAD, files::download)
                    .stream(FileProtocol.UPLOAD, files::upload);
            if (console != null) {
                final ConsoleService consoles = new ConsoleService(console, limits.maxConsoles());
                b.stream(FileProtocol.CONSOLE, consoles::open).handle(FileProtocol.CONSOLE_CLOSE_INPUT, consoles::closeInput);
            } else {
                b.stream(FileProtocol.CONSOLE, (call, stream) -> {
                    throw FileProtocol.error(FileProtocol.ERR_CONSOLE_OFF,
                            "this server offers no console (start it with braid serve --console CMD)");
                });
            }
            final java.util.concurrent.atomic.AtomicReference<BraidServer> self =
                    new java.util.concurrent.atomic.AtomicReference<>();
            final long started = System.nanoTime();
            b.handle(FileProtocol.STATS, call -> {
                if (!stats) {
                    throw FileProtocol.error(FileProtocol.ERR_STATS_OFF,
                            "this server does not share its statistics (start it with braid serve --stats)");
                }
                final BraidServer s = self.get();
                call.reply(FileProtocol.encode(braid.backendName(), (System.nanoTime() - started) / 1_000_000,
                        s == null ? java.util.List.of() : s.connections()));
            });
            final BraidServer server = b.bind(address);
            self.set(server);
            return new FileServer(paths, braid, server, gate);
        } catch (RuntimeException e) {
            gate.close();
            braid.close();
            throw e;
        }
    }

    public SocketAddress address() {
        return server.localAddress();
    }

    Path root() {
        return paths.root();
    }

    String backendName() {
        return braid.backendName();
    }

    /** The server's {@code Braid} (its buffer pool, its backend). */
    public Braid braid() {
        return braid;
    }

    /** Downloads and uploads in progress. */
    public int transfersInProgress() {
        return gate.inProgress();
    }

    /**
     * Graceful stop, first half: stops listening and drains every connection (docs/protocol.md §3.1): new
     * transfers and calls are refused (a braid client hears DRAIN and fails them with a DrainingException
     * naming the drain), transfers in flight go on. Returns once every connection closed, or at
     * {@code deadline}; {@link #close()} then aborts what is left (an upload's temporary file is deleted,
     * nothing is left under a final name). Any thread.
     *
     * @param deadline how long transfers in flight may take to finish
     * @return true if every connection closed in time (nothing is left to abort)
     */
    public boolean drain(final Duration deadline) {
        server.shutdown();
        return server.awaitTermination(deadline);
    }

    /**
     * Aborts every transfer ("the server is stopping"), closes every connection and stops braid's threads.
     * Waits for them as long as braid does ({@code closeTimeout} per step); {@link #closeWithin} bounds it.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            gate.abortAll("the server is stopping");
            server.close();
        } finally {
            braid.close();
            gate.close();
        }
    }

    /**
     * Runs {@link #close()} on its own thread and waits at most {@code timeout} for it.
     *
     * @return true if it finished in time; false if it is still running (a connection or thread that would
     * not stop): the caller decides what to do then (the command line halts the process)
     */
    public boolean closeWithin(final Duration timeout) throws InterruptedException {
        return runWithin(this::close, timeout, "braid-serve-close");
    }

    /**
     * Runs {@code action} on a new daemon thread named {@code name} and waits at most {@code timeout}.
     *
     * @return true if it finished in time (normally or not); false if it is still running
     */
    static boolean runWithin(final Runnable action, final Duration timeout, final String name)
            throws InterruptedException {
        final Thread t = new Thread(action, name);
        t.setDaemon(true);
        t.start();
        t.join(Math.max(1, timeout.toMillis()));
        return !t.isAlive();
    }
}
