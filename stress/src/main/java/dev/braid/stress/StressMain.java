package dev.braid.stress;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Long-running scenarios; each prints an HdrHistogram summary and a verdict, and exits 1 on a failed verdict. */
@Command(name = "braid-stress", mixinStandardHelpOptions = true,
        description = "braid's long-running stress scenarios. Backend: -Dbraid.backend=... (default auto).",
        subcommands = {CallsScenario.class, FairnessScenario.class, ConnectionsScenario.class, StreamsScenario.class,
                SlowConsumersScenario.class, SoakScenario.class, ServeSlowReadersScenario.class,
                WanScenario.class, LinkCheckScenario.class, AttackScenario.class, CommandLine.HelpCommand.class})
public final class StressMain implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(final String[] args) {
        System.exit(new CommandLine(new StressMain()).execute(args));
    }
}
