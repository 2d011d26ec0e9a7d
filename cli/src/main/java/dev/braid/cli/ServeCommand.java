package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code braid serve}: a directory for get, put and ls, and optionally a console, until interrupted. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a directory for 'braid get', 'braid put' and 'braid ls' (paths are confined to it: "
                + "absolute paths, '..' and symbolic links leading out are refused), and optionally a console "
                + "command for 'braid console'. Runs until interrupted (Ctrl-C).",
                "Listens on loopback unless --listen names another address; prints the address it listens on."},
        footer = {"", "Examples:",
                "  braid serve --root ~/shared                      # loopback, a free port (printed)",
                "  braid serve --root /srv/images --listen 0.0.0.0:16509",
                "  braid serve --root . --listen :7000 --console /bin/bash",
                "  braid serve --root . --console 'script -qfec /bin/bash /dev/null'   # a shell on a pseudo-terminal",
                "", "Exit codes: 1 could not serve (bad root, address in use), 2 bad usage; stopped by Ctrl-C or SIGTERM it "
                + "exits with 130 or 143 like any program."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--root", required = true, paramLabel = "DIR", description = "The directory to serve.")
    Path root;

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Address to listen on (default: "
            + "127.0.0.1 and a free port; ':PORT' is loopback too; 0.0.0.0:PORT for every interface).")
    String listen = "127.0.0.1:0";

    @Option(names = "--console", paramLabel = "CMD", description = "Offer a console: each 'braid console' "
            + "client gets its own '/bin/sh -c CMD' with stdin and stdout (stderr merged) attached. Off unless given.")
    String console;

    @Option(names = "--backend", description = "I/O backend: auto, nio, epoll, loom (default: the braid.backend "
            + "property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final InetSocketAddress address = Endpoints.parse(spec.commandLine(), listen, 0);
        final RootedPaths paths;
        try {
            paths = new RootedPaths(root);
        } catch (java.io.IOException e) {
            throw Endpoints.failure("cannot serve '" + root + "': " + (e instanceof java.nio.file.NoSuchFileException
                    ? "no such directory" : e instanceof java.nio.file.NotDirectoryException ? "not a directory"
                    : e.toString()), e);
        }
        final PrintWriter out = spec.commandLine().getOut();
        final FileService files = new FileService(paths, line -> {
            synchronized (out) {
                out.println(line);
                out.flush();
            }
        });
        final ConsoleService consoles = console == null ? null : new ConsoleService(console);
        final Braid braid = Braid.create(new BraidConfig().backend(backend));
        final BraidServer server;
        try {
            final BraidServer.Builder b = braid.server()
                    .handle(FileProtocol.LIST, files::list)
                    .stream(FileProtocol.DOWNLOAD, files::download)
                    .stream(FileProtocol.UPLOAD, files::upload);
            if (consoles != null) {
                b.stream(FileProtocol.CONSOLE, consoles::open).handle(FileProtocol.CONSOLE_CLOSE_INPUT, consoles::closeInput);
            } else {
                b.stream(FileProtocol.CONSOLE, (call, stream) -> {
                    throw FileProtocol.error(FileProtocol.ERR_CONSOLE_OFF,
                            "this server offers no console (start it with braid serve --console CMD)");
                });
            }
            server = b.bind(address);
        } catch (RuntimeException e) {
            braid.close();
            throw Endpoints.failure("cannot listen on " + listen + ": " + Endpoints.describe(e), e);
        }
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            braid.close();
            stopped.countDown();
        }, "braid-serve-shutdown"));
        final InetSocketAddress bound = server.address();
        out.printf("braid serve: serving %s on %s:%d (backend %s, console %s); Ctrl-C stops%n", paths.root(),
                bound.getAddress().getHostAddress(), bound.getPort(), braid.backendName(),
                console == null ? "off" : "'" + console + "'");
        out.flush();
        stopped.await();
        return 0;
    }
}
