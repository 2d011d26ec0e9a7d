package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.Connection;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.net.InetSocketAddress;
import java.util.Locale;

/** Options shared by get and put (a picocli mixin), and connecting. */
final class TransferOptions {
    @Option(names = "--sparse", description = "Send runs of zeros (4 KiB granules) as holes; the receiver seeks "
            + "over them, so the file stays sparse.")
    boolean sparse;

    @Option(names = {"-j", "--parallel"}, paramLabel = "N", description = "Files moving at once, each on its own "
            + "stream of the one connection (default: ${DEFAULT-VALUE}).")
    int parallel = 4;

    @Option(names = "--limit-rate", paramLabel = "RATE", description = "Per-file byte rate limit, e.g. 512K, 10M "
            + "(default: none).")
    String limitRate;

    @Option(names = "--progress-interval", paramLabel = "SECONDS", description = "Seconds between progress lines "
            + "when not on a terminal (default: ${DEFAULT-VALUE}).")
    double progressInterval = 1.0;

    @Option(names = {"-q", "--quiet"}, description = "No progress, only errors and the summary line.")
    boolean quiet;

    @Option(names = "--backend", description = "I/O backend: auto, nio, epoll, loom (default: the braid.backend "
            + "property, else auto).")
    String backend = System.getProperty("braid.backend", "auto");

    long rateBytes(final CommandLine cmd) {
        if (limitRate == null) {
            return 0;
        }
        final String s = limitRate.trim().toUpperCase(Locale.ROOT);
        long mult = 1;
        String num = s;
        if (s.endsWith("K") || s.endsWith("M") || s.endsWith("G")) {
            mult = switch (s.charAt(s.length() - 1)) {
                case 'K' -> 1024L;
                case 'M' -> 1024L * 1024;
                default -> 1024L * 1024 * 1024;
            };
            num = s.substring(0, s.length() - 1);
        }
        try {
            final double v = Double.parseDouble(num) * mult;
            if (v < 1) {
                throw new NumberFormatException();
            }
            return (long) v;
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(cmd, "--limit-rate '" + limitRate + "' is not a rate like 512K or 10M");
        }
    }

    void validate(final CommandLine cmd) {
        if (parallel < 1 || parallel > 64) {
            throw new CommandLine.ParameterException(cmd, "--parallel must be 1..64, got " + parallel);
        }
        if (!(progressInterval > 0)) {
            throw new CommandLine.ParameterException(cmd, "--progress-interval must be > 0");
        }
    }

    @picocli.CommandLine.Mixin
    TlsCliOptions tls;

    static Braid braid(final String backend) {
        return braid(backend, null);
    }

    /** A braid on {@code backend}, with TLS when {@code tls} is not null. */
    static Braid braid(final String backend, final dev.braid.TlsOptions tls) {
        return Braid.create(new BraidConfig().backend(backend).tls(tls));
    }

    static Connection connect(final Braid braid, final java.net.SocketAddress address, final String text) {
        try {
            return braid.connect(address);
        } catch (RuntimeException e) {
            throw Endpoints.failure("cannot connect to " + text + ": " + Endpoints.describe(e), e);
        }
    }
}
