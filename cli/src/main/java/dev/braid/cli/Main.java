package dev.braid.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * braid's command line. Exit codes: 0 success, 1 failure at run time, 2 bad usage.
 */
@Command(name = "braid", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "braid: many concurrent RPC calls and data streams over one libvirt-compatible TCP connection.",
        subcommands = {DemoCommand.class, ServeCommand.class, GetCommand.class, PutCommand.class, LsCommand.class,
                ConsoleCommand.class, StatCommand.class, CommandLine.HelpCommand.class, AutoComplete.GenerateCompletion.class},
        footer = {"", "Examples:", "  ./braid demo", "  ./braid demo --backend all",
                "  ./braid demo --backend nio --duration 5s --streams 8",
                "  ./braid serve --root ~/share", "  ./braid stat 127.0.0.1:PORT", "  ./braid get 127.0.0.1:PORT remote.iso .", "  ./braid help put",
                "  source <(braid generate-completion)   # completion in bash and zsh", "",
                "Exit codes: 0 success, 1 failure, 2 bad usage."})
public final class Main implements Runnable {
    @Option(names = "--verbose", description = "Print stack traces of errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(final String[] args) {
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s %3$s: %5$s%6$s%n");
        }
        System.exit(run(args));
    }

    static int run(final String... args) {
        return run(new java.io.PrintWriter(System.out, true), new java.io.PrintWriter(System.err, true), args);
    }

    static int run(final java.io.PrintWriter out, final java.io.PrintWriter err, final String... args) {
        final CommandLine cl = new CommandLine(new Main()).setOut(out).setErr(err);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            boolean verbose = false; // inherited: it may follow the subcommand's name
            for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
                verbose |= p.hasMatchedOption("--verbose");
            }
            if (verbose) {
                e.printStackTrace(cmd.getErr());
            } else {
                cmd.getErr().println("braid: " + oneLine(e) + " (--verbose for details)");
            }
            return 1;
        });
        cl.setParameterExceptionHandler((e, badArgs) -> {
            final CommandLine cmd = e.getCommandLine();
            cmd.getErr().println("braid: " + oneLine(e) + " (see '" + cmd.getCommandSpec().qualifiedName()
                    + " --help')");
            return 2;
        });
        return cl.execute(args);
    }

    /**
     * {@code --version}: the version in braid-cli's jar manifest ({@code Implementation-Version}, written by
     * the build), the Java runtime and the platform.
     */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            final String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"braid " + (v == null ? "(version unknown: not run from braid-cli's jar)" : v),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + "), "
                            + System.getProperty("os.name") + " " + System.getProperty("os.arch")};
        }
    }

    /** An exception's message on one line, or its class name if it has none. */
    static String oneLine(final Throwable e) {
        final String m = e.getMessage();
        return (m == null || m.isBlank() ? e.getClass().getSimpleName() : m).replace('\n', ' ');
    }
}
