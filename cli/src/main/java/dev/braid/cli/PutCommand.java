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
import java.util.stream.Stream;

/** {@code braid put LOCAL... HOST:PORT REMOTE}: files and directories up, concurrently on one connection. */
@Command(name = "put", mixinStandardHelpOptions = true,
        customSynopsis = "braid put [OPTIONS] LOCAL... HOST:PORT REMOTE",
        description = {"Upload files or directories to a 'braid serve' server. Several files move at once as "
                + "concurrent streams on one connection. The server writes each under a temporary name and "
                + "renames it into place before it confirms the transfer, so a failed or interrupted upload never "
                + "leaves a file that looks complete. Missing remote directories are created.",
                "With one LOCAL file, REMOTE is the new name unless it is an existing directory on the server; "
                + "with several LOCALs, REMOTE is a directory. A LOCAL directory is copied whole."},
        footer = {"", "Examples:",
                "  braid put notes.txt 127.0.0.1:7000 .",
                "  braid put a.iso b.iso c.iso 127.0.0.1:7000 isos/",
                "  braid put ./photos 127.0.0.1:7000 backup/photos      # a whole directory",
                "  braid put --sparse disk.img 127.0.0.1:7000 vm/disk.img",
                "  braid put disk.img unix:/run/braid/files.sock vm/disk.img",
                "  braid put --tls-ca ca.pem --tls-cert me.pem --tls-key me.key notes.txt files.example:7000 .",
                "", "Exit codes: 0 every file arrived, 1 a file or the connection failed, 2 bad usage."})
final class PutCommand implements Callable<Integer> {
    @Parameters(arity = "3..*", paramLabel = "ARG",
            description = "Local files or directories, then the server, then the destination on the server "
                    + "(relative to its root; '.' is the root).")
    List<String> args;

    @Mixin
    TransferOptions options;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final CommandLine cmd = spec.commandLine();
        options.validate(cmd);
        final long rate = options.rateBytes(cmd);
        final int n = args.size();
        final String endpoint = args.get(n - 2);
        final String remote = args.get(n - 1);
        final List<Path> sources = args.subList(0, n - 2).stream().map(Path::of).toList();
        for (Path p : sources) {
            if (!Files.exists(p)) {
                throw Endpoints.failure("'" + p + "': no such file or directory", null);
            }
        }
        final var address = Endpoints.parse(cmd, endpoint, -1);
        final PrintWriter out = cmd.getOut();
        final PrintWriter err = cmd.getErr();
        try (Braid braid = TransferOptions.braid(options.backend, options.tls.client(cmd));
             Connection c = TransferOptions.connect(braid, address, endpoint)) {
            final FileClient client = new FileClient(c, braid.bufferPool(), options.sparse, rate);
            final FileProtocol.Listing there = client.list(remote, false, true);
            final boolean remoteIsDir = there != null && there.kind() == FileProtocol.KIND_DIRECTORY;
            final boolean intoDir = sources.size() > 1 || remoteIsDir;
            final List<FileClient.Job> jobs = new ArrayList<>();
            int skipped = 0;
            for (Path src : sources) {
                final String name = src.toAbsolutePath().normalize().getFileName() == null ? ""
                        : src.toAbsolutePath().normalize().getFileName().toString();
                final String target = intoDir ? FileClient.join(remote, name) : remote;
                if (Files.isDirectory(src)) {
                    try (Stream<Path> walk = Files.walk(src)) {
                        for (Path f : (Iterable<Path>) walk::iterator) {
                            if (Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                                final String rel = src.relativize(f).toString().replace('\\', '/');
                                jobs.add(new FileClient.Job(FileClient.join(target, rel), f, Files.size(f)));
                            } else if (!Files.isDirectory(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                                skipped++;
                            }
                        }
                    }
                } else if (Files.isRegularFile(src)) {
                    jobs.add(new FileClient.Job(target, src, Files.size(src)));
                } else {
                    err.println("braid: put: skipping '" + src + "': not a regular file or directory");
                    skipped++;
                }
            }
            return FileClient.transferAll("put", "to", jobs, skipped, client::upload, options, endpoint, out, err);
        }
    }
}
