package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.Connection;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code braid get HOST:PORT REMOTE... LOCAL}: files and directories down, concurrently on one connection. */
@Command(name = "get", mixinStandardHelpOptions = true,
        customSynopsis = "braid get [OPTIONS] HOST:PORT REMOTE... LOCAL",
        description = {"Download files or directories from a 'braid serve' server. Several files move at once as "
                + "concurrent streams on one connection. Each file is written under a temporary name "
                + "(.NAME.braid-XXXXXXXX.part) and renamed only once the transfer finished successfully, so an "
                + "interrupted transfer never leaves a file that looks complete.",
                "With one REMOTE, LOCAL is the new name unless it is an existing directory; with several, LOCAL "
                + "is a directory (created if missing). A REMOTE directory is copied whole."},
        footer = {"", "Examples:",
                "  braid get 127.0.0.1:7000 notes.txt .",
                "  braid get 127.0.0.1:7000 a.iso b.iso c.iso downloads/",
                "  braid get 127.0.0.1:7000 photos ./photos-copy        # a whole directory",
                "  braid get --sparse 127.0.0.1:7000 vm/disk.img disk.img",
                "  braid get --resume 127.0.0.1:7000 big.iso .          # again after a lost connection: continues",
                "  braid get --reconnect 127.0.0.1:7000 big.iso .       # waits for a restarted server and continues",
                "  braid get unix:/run/braid/files.sock notes.txt .",
                "  braid get --tls-ca ca.pem --tls-cert me.pem --tls-key me.key files.example:7000 notes.txt .",
                "", "Exit codes: 0 every file arrived, 1 a file or the connection failed, 2 bad usage."})
final class GetCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server: HOST:PORT, or unix:PATH for a Unix domain socket.")
    String endpoint;

    @Parameters(index = "1..*", arity = "2..*", paramLabel = "PATH",
            description = "Paths on the server (relative to its root), then the local destination.")
    List<String> paths;

    @Mixin
    TransferOptions options;

    @picocli.CommandLine.Option(names = "--resume", description = "Continue interrupted downloads: each file is "
            + "written under .NAME.braid-resume.part, kept when the transfer fails, and continued from its length "
            + "the next time; the whole file is then checked against the server's SHA-256.")
    boolean resume;

    @picocli.CommandLine.Option(names = "--reconnect", description = "Survive a lost connection or a server "
            + "restart (implies --resume): reconnect with backoff (200 ms doubling up to 5 s, with jitter) and "
            + "continue each unfinished file from what arrived. Gives up after --reconnect-attempts failed "
            + "attempts in a row. HOST:PORT only.")
    boolean reconnect;

    @picocli.CommandLine.Option(names = "--reconnect-attempts", paramLabel = "N", defaultValue = "20",
            description = "With --reconnect: connection attempts in a row before giving up, and times one file "
                    + "is resumed (default: ${DEFAULT-VALUE}).")
    int reconnectAttempts;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final CommandLine cmd = spec.commandLine();
        options.validate(cmd);
        final long rate = options.rateBytes(cmd);
        final var address = Endpoints.parse(cmd, endpoint, -1);
        final List<String> sources = paths.subList(0, paths.size() - 1);
        final Path dest = Path.of(paths.get(paths.size() - 1));
        final PrintWriter out = cmd.getOut();
        final PrintWriter err = cmd.getErr();
        if (reconnect && !(address instanceof java.net.InetSocketAddress)) {
            throw new CommandLine.ParameterException(cmd, "--reconnect needs HOST:PORT, not a Unix domain socket");
        }
        if (reconnectAttempts < 1) {
            throw new CommandLine.ParameterException(cmd, "--reconnect-attempts must be at least 1");
        }
        try (Braid braid = TransferOptions.braid(options.backend, options.tls.client(cmd));
             Connection c = reconnect ? connectReconnecting(braid, (java.net.InetSocketAddress) address, err)
                     : TransferOptions.connect(braid, address, endpoint)) {
            final FileClient client = new FileClient(c, braid.bufferPool(), options.sparse, rate, resume || reconnect);
            if (reconnect) {
                client.resumingAfterLoss(reconnectAttempts, err);
            }
            final boolean intoDir = sources.size() > 1 || Files.isDirectory(dest);
            final List<FileClient.Job> jobs = new ArrayList<>();
            int skipped = 0;
            for (String src : sources) {
                final FileProtocol.Listing l = client.list(src, true, false);
                final String base = FileClient.baseName(src);
                final Path target = intoDir && !base.isEmpty() ? dest.resolve(base) : dest;
                if (l.kind() == FileProtocol.KIND_DIRECTORY) {
                    Files.createDirectories(target);
                    for (FileProtocol.Entry e : l.entries()) {
                        if (e.kind() == FileProtocol.KIND_FILE) {
                            jobs.add(new FileClient.Job(FileClient.join(src, e.name()), target.resolve(e.name()), e.size()));
                        } else if (e.kind() == FileProtocol.KIND_DIRECTORY) {
                            Files.createDirectories(target.resolve(e.name()));
                        } else {
                            skipped++;
                        }
                    }
                } else if (l.kind() == FileProtocol.KIND_FILE) {
                    jobs.add(new FileClient.Job(src, target, l.entries().get(0).size()));
                } else {
                    err.println("braid: get: skipping '" + src + "': not a regular file or directory");
                    skipped++;
                }
            }
            return FileClient.transferAll("get", "from", jobs, skipped, client::download, options, endpoint, out, err);
        }
    }

    /** --reconnect: a connection that comes back after a loss, each transition announced on {@code err}. */
    private dev.braid.ReconnectingConnection connectReconnecting(final Braid braid,
                                                                final java.net.InetSocketAddress address,
                                                                final PrintWriter err) {
        final dev.braid.ReconnectingConnection c;
        try {
            c = braid.connectReconnecting(address, new dev.braid.ReconnectPolicy(java.time.Duration.ofMillis(200),
                    java.time.Duration.ofSeconds(5), 2.0, 0.2, reconnectAttempts));
        } catch (RuntimeException e) {
            throw Endpoints.failure("cannot connect to " + endpoint + ": " + Endpoints.describe(e), e);
        }
        c.addStateListener((from, to, cause) -> {
            synchronized (err) {
                switch (to) {
                    case RECONNECTING -> err.println("braid: get: lost the connection to " + endpoint + " ("
                            + (cause == null ? "?" : Endpoints.describe(cause)) + "); reconnecting");
                    case CONNECTED -> err.println("braid: get: reconnected to " + endpoint);
                    case CLOSED -> {
                        if (cause != null && from == dev.braid.ReconnectingConnection.State.RECONNECTING) {
                            err.println("braid: get: " + Endpoints.describe(cause));
                        }
                    }
                }
                err.flush();
            }
        });
        return c;
    }
}
