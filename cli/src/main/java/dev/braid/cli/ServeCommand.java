package dev.braid.cli;

import dev.braid.BraidConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code braid serve}: a directory for get, put and ls, and optionally a console, until interrupted. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a directory for 'braid get', 'braid put' and 'braid ls' (paths are confined to it: "
                + "absolute paths, '..' and symbolic links leading out are refused), and optionally a console "
                + "command for 'braid console'. Runs until interrupted (Ctrl-C).",
                "Listens on loopback unless --listen names another address; prints the address it listens on.",
                "Exposure: anyone who reaches the server reads and writes the directory (and runs the console "
                + "command). So a listen address other than loopback or a unix: socket needs TLS (--tls-cert and "
                + "--tls-key), or --insecure, which prints what is exposed; --console there needs client "
                + "certificates (--tls-ca). See docs/security.md."},
        footer = {"", "Examples:",
                "  braid serve --root ~/shared                      # loopback, a free port (printed)",
                "  braid serve --root ~/shared --listen unix:/run/user/1000/braid.sock   # the file's permissions decide who connects",
                "  braid serve --root /srv/images --listen 0.0.0.0:16514 --tls-cert server.pem --tls-key server.key",
                "  braid serve --root /srv --listen 0.0.0.0:16514 --tls-cert server.pem --tls-key server.key "
                + "--tls-ca ca.pem --console /bin/bash   # mutual TLS: only clients with a certificate from ca.pem",
                "  braid serve --root . --listen :7000 --console 'script -qfec /bin/bash /dev/null'   # loopback: a shell on a pseudo-terminal",
                "  braid serve --root /srv --listen 0.0.0.0:7000 --tls-cert server.pem --tls-key server.key --max-transfers 32 "
                + "--max-upload-size 4G --stall-timeout 30s",
                "  braid serve --root . --stats                     # then: braid stat 127.0.0.1:PORT",
                "", "Limits: beyond --max-transfers or --max-client-transfers a transfer is refused (code 7, the limit "
                + "named); one that moves no data for --stall-timeout is aborted. Every limit: docs/cli.md.",
                "", "Stopping: on Ctrl-C or SIGTERM it drains: stops listening, refuses new transfers (clients are told), "
                + "lets those in flight finish for up to --drain-timeout, then aborts what is left (an unfinished upload "
                + "leaves no file) and exits.",
                "", "Exit codes: 1 could not serve (bad root, address in use), 2 bad usage; stopped by Ctrl-C or SIGTERM it "
                + "exits with 130 or 143 like any program, within --drain-timeout and 10 s more."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--drain-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "On Ctrl-C or SIGTERM, how long transfers in flight may take to finish before they are "
                    + "aborted (default: ${DEFAULT-VALUE}).", defaultValue = "5s")
    Duration drainTimeout;

    @Option(names = "--root", required = true, paramLabel = "DIR", description = "The directory to serve.")
    Path root;

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Address to listen on (default: "
            + "127.0.0.1 and a free port; ':PORT' is loopback too; 0.0.0.0:PORT for every interface, which needs "
            + "TLS or --insecure; unix:PATH for a Unix domain socket).")
    String listen = "127.0.0.1:0";

    @Option(names = "--insecure", description = "Listen on a non-loopback address without TLS: anyone who reaches "
            + "it reads and writes the directory, unencrypted. A warning says so. Never allows --console there.")
    boolean insecure;

    @picocli.CommandLine.Mixin
    TlsCliOptions tls;

    @Option(names = "--console", paramLabel = "CMD", description = "Offer a console: each 'braid console' "
            + "client gets its own '/bin/sh -c CMD' with stdin and stdout (stderr merged) attached. Off unless given.")
    String console;

    @Option(names = "--backend", description = "I/O backend: auto, nio, epoll, loom (default: the braid.backend "
            + "property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @Option(names = "--max-transfers", paramLabel = "N", description = "Downloads and uploads in progress at once, "
            + "all clients together; more are refused (default: ${DEFAULT-VALUE}). Each holds one open file and at "
            + "most about 2.3 MiB of buffers.")
    int maxTransfers = ServeLimits.DEFAULT.maxTransfers();

    @Option(names = "--max-client-transfers", paramLabel = "N", description = "The same for one client address "
            + "(default: ${DEFAULT-VALUE}).")
    int maxClientTransfers = ServeLimits.DEFAULT.maxClientTransfers();

    @Option(names = "--stall-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Abort a transfer whose client moves no data for this long: a reader that takes "
                    + "nothing, a writer that sends nothing (default: 60s).")
    java.time.Duration stallTimeout = ServeLimits.DEFAULT.stallTimeout();

    @Option(names = "--max-upload-size", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "Largest file an upload may create, holes included, e.g. 512M, 64G, 2T (default: 64G).")
    long maxUploadSize = ServeLimits.DEFAULT.maxUploadSize();

    @Option(names = "--stats", description = "Answer 'braid stat': every connection's and stream's counters "
            + "(client addresses included) to any client. Off unless given.")
    boolean stats;

    @Option(names = "--max-consoles", paramLabel = "N", description = "Console sessions at once, with --console; "
            + "each is a process (default: ${DEFAULT-VALUE}).")
    int maxConsoles = ServeLimits.DEFAULT.maxConsoles();

    @Spec
    CommandSpec spec;

    /**
     * The exposure rules: a non-loopback address needs TLS unless --insecure (then the warning returned says
     * what is exposed); a console there needs client certificates whatever else is said. Loopback and unix:
     * sockets are this machine's (and the socket file's permissions).
     *
     * @return the warning to print, or null
     * @throws picocli.CommandLine.ParameterException (exit code 2) when the rules refuse
     */
    private String exposure(final SocketAddress address, final boolean tlsOn) {
        if (Endpoints.isLocal(address)) {
            return null;
        }
        final String where = Endpoints.format(address);
        if (console != null && !tls.requiresClientCertificates()) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "refusing to offer the console '"
                    + console + "' on " + where + ", which other machines can reach, without client certificates: "
                    + "give --tls-cert, --tls-key and --tls-ca (only clients with a certificate from that CA get in), "
                    + "or listen on loopback or a unix: socket");
        }
        if (tlsOn) {
            return null;
        }
        if (!insecure) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "refusing to serve '" + root
                    + "' on " + where + " without TLS: anyone who can reach it could read and overwrite every file "
                    + "there. Give --tls-cert and --tls-key (and --tls-ca to require client certificates), listen on "
                    + "loopback or a unix: socket, or say --insecure if the network is trusted");
        }
        return "braid serve: WARNING (--insecure): every file under '" + root + "' can be read and overwritten by "
                + "anyone who can reach " + where + ", unencrypted and unauthenticated";
    }

    @Override
    public Integer call() throws Exception {
        final SocketAddress address = Endpoints.parse(spec.commandLine(), listen, 0);
        final dev.braid.TlsOptions tlsOptions = tls.server(spec.commandLine());
        final String exposureWarning = exposure(address, tlsOptions != null);
        final ServeLimits limits;
        try {
            limits = new ServeLimits(maxTransfers, maxClientTransfers, stallTimeout, maxUploadSize,
                    ServeLimits.DEFAULT.shutdownTimeout(), maxConsoles);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final FileServer files;
        try {
            files = FileServer.start(root, address, new BraidConfig().backend(backend).tls(tlsOptions), limits, console, stats, line -> {
                synchronized (out) {
                    out.println(line);
                    out.flush();
                }
            });
        } catch (java.io.IOException e) {
            throw Endpoints.failure("cannot serve '" + root + "': " + (e instanceof java.nio.file.NoSuchFileException
                    ? "no such directory" : e instanceof java.nio.file.NotDirectoryException ? "not a directory"
                    : e.toString()), e);
        } catch (RuntimeException e) {
            throw Endpoints.failure("cannot listen on " + listen + ": " + Endpoints.describe(e), e);
        }
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // Bounded whatever braid does: a connection or an event loop that will not stop must not keep a
            // stopped server's process alive.
            try {
                final int inFlight = files.transfersInProgress();
                err.println("braid serve: draining: no new transfers; " + inFlight + " in progress may finish within "
                        + DurationConverter.format(drainTimeout));
                err.flush();
                final boolean[] drained = new boolean[1];
                // bounded like the close below, whatever braid does
                FileServer.runWithin(() -> drained[0] = files.drain(drainTimeout), drainTimeout.plusSeconds(1),
                        "braid-serve-drain");
                if (!drained[0]) {
                    err.println("braid serve: drain deadline passed; aborting " + files.transfersInProgress()
                            + " transfers still in progress (unfinished uploads leave no file)");
                } else {
                    err.println("braid serve: drained: every transfer finished");
                }
                err.flush();
                if (!files.closeWithin(limits.shutdownTimeout())) {
                    err.println("braid serve: connections still closing after "
                            + DurationConverter.format(limits.shutdownTimeout()) + "; stopping anyway");
                    err.flush();
                    Runtime.getRuntime().halt(143);
                }
            } catch (InterruptedException e) {
                Runtime.getRuntime().halt(143);
            }
            stopped.countDown();
        }, "braid-serve-shutdown"));
        final SocketAddress bound = files.address();
        if (exposureWarning != null) { // before the "serving" line: whoever waits for that line has the warning
            err.println(exposureWarning);
            err.flush();
        }
        out.printf("braid serve: serving %s on %s (backend %s, %s, console %s); Ctrl-C stops%n", files.root(),
                Endpoints.format(bound), files.backendName(), tlsOptions == null ? "plaintext"
                        : (tls.requiresClientCertificates() ? "TLS, client certificates required" : "TLS")
                        + " (" + TlsEngine.label(tlsOptions) + " engine)",
                console == null ? "off" : "'" + console + "'");
        out.printf("braid serve: limits: %d transfers (%d per client), stall timeout %s, uploads up to %s%n",
                limits.maxTransfers(), limits.maxClientTransfers(), DurationConverter.format(limits.stallTimeout()),
                Progress.size(limits.maxUploadSize()));
        if (stats) {
            out.printf("braid serve: stats on: braid stat %s%n", Endpoints.format(bound));
        }
        out.flush();
        stopped.await();
        return 0;
    }
}
