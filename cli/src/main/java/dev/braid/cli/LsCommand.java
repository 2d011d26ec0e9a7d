package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.Connection;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code braid ls HOST:PORT [PATH]}. */
@Command(name = "ls", mixinStandardHelpOptions = true,
        description = "List a directory (or show a file) on a 'braid serve' server: type, size in bytes, "
                + "modification time, name (directories end with '/', symbolic links with '@').",
        footer = {"", "Examples:", "  braid ls 127.0.0.1:7000", "  braid ls 127.0.0.1:7000 photos/2024",
                "  braid ls -R 127.0.0.1:7000 .",
                "  braid ls unix:/run/braid/files.sock",
                "  braid ls --tls-ca ca.pem --tls-cert me.pem --tls-key me.key files.example:7000   # mutual TLS", "",
                "Exit codes: 0 listed, 1 the path or the connection failed, 2 bad usage."})
final class LsCommand implements Callable<Integer> {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server: HOST:PORT, or unix:PATH for a Unix domain socket.")
    String endpoint;

    @Parameters(index = "1", arity = "0..1", paramLabel = "PATH", description = "Relative to the served root "
            + "(default: the root).")
    String path = ".";

    @Option(names = {"-R", "--recursive"}, description = "List subdirectories too.")
    boolean recursive;

    @Option(names = "--backend", description = "I/O backend (default: the braid.backend property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    @picocli.CommandLine.Mixin
    TlsCliOptions tls;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        final CommandLine cmd = spec.commandLine();
        final var address = Endpoints.parse(cmd, endpoint, -1);
        final PrintWriter out = cmd.getOut();
        try (Braid braid = TransferOptions.braid(backend, tls.client(cmd));
             Connection c = TransferOptions.connect(braid, address, endpoint)) {
            final FileProtocol.Listing l = new FileClient(c, null, false, 0).list(path, recursive, false);
            for (FileProtocol.Entry e : l.entries()) {
                final char type = switch (e.kind()) {
                    case FileProtocol.KIND_FILE -> '-';
                    case FileProtocol.KIND_DIRECTORY -> 'd';
                    case FileProtocol.KIND_SYMLINK -> 'l';
                    default -> '?';
                };
                final String suffix = e.kind() == FileProtocol.KIND_DIRECTORY ? "/"
                        : e.kind() == FileProtocol.KIND_SYMLINK ? "@" : "";
                out.printf(Locale.ROOT, "%c %14d  %s  %s%s%n", type, e.size(),
                        TIME.format(Instant.ofEpochMilli(e.mtimeMillis())), e.name(), suffix);
            }
            out.flush();
            return 0;
        }
    }
}
