package dev.braid.examples;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The examples run as the README says and print what it shows. */
class ExamplesTest {

    private static String output(final ThrowingConsumer<PrintStream> program) throws Exception {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            program.accept(out);
        }
        final String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        return text;
    }

    @FunctionalInterface
    interface ThrowingConsumer<T> {
        void accept(T t) throws Exception;
    }

    @Test
    void theTypedServiceAnswersStreamsAndReturnsItsSummary() throws Exception {
        final String out = output(TypedService::run);
        assertThat(out).contains("greet(\"braid\") -> Hello, braid!")
                .contains("count_words(\"a poem\") opened: counting the words of a poem, one answer per line")
                .contains("  5 words: one stream carries many calls")
                .contains("  7 words: and no stream holds up a call")
                .contains("  2 words: however large")
                .contains("  2 words: or slow")
                .contains("result: 4 lines, 16 words");
    }

    /** Needs a libvirt daemon: BRAID_LIBVIRTD=host:port (scripts/libvirtd-test-peer.sh starts one). */
    @Test
    void listDomainsShowsTheTestDriversDomainAndItsXml() throws Exception {
        String where = System.getProperty("BRAID_LIBVIRTD");
        if (where == null || where.isBlank()) {
            where = System.getenv("BRAID_LIBVIRTD");
        }
        assumeTrue(where != null && !where.isBlank(), "no libvirt daemon: set BRAID_LIBVIRTD=host:port; "
                + "scripts/libvirtd-test-peer.sh starts one and prints its port");
        final int colon = where.lastIndexOf(':');
        final InetSocketAddress daemon = new InetSocketAddress(where.substring(0, colon),
                Integer.parseInt(where.substring(colon + 1).trim()));
        final String out = output(o -> ListDomains.run(daemon, null, o));
        assertThat(out).contains("libvirt-compatible mode").contains("1 domain(s):")
                .containsPattern("  test +id 1 +running \\(reason \\d+\\) +uuid [0-9a-f-]{36}")
                .contains("XML description of test:").contains("<domain type='test'").contains("<name>test</name>");
    }
}
