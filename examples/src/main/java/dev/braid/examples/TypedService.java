package dev.braid.examples;

import dev.braid.Braid;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.StreamOptions;
import dev.braid.xdr.XdrCodec;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A typed service on braid: one plain call and one streaming method, declared once as descriptors and used
 * on both sides. {@code COUNT_WORDS} streams lines up, answers each line with its word count as it goes,
 * and ends with a summary as the stream's result: the client half-closes after its last line, reads the
 * answers to the server's end, then finishes and gets the summary.
 *
 * <pre>scripts/example typed-service</pre>
 */
public final class TypedService {
    static final int PROGRAM = 0x776f7264; // "word"

    /** struct summary { hyper lines; hyper words; } */
    record Summary(long lines, long words) {
    }

    static final XdrCodec<Summary> SUMMARY = XdrCodec.of(s -> 16,
            (s, b) -> {
                XdrWriter.writeHyper(b, s.lines());
                XdrWriter.writeHyper(b, s.words());
            },
            b -> new Summary(XdrReader.readHyper(b, "lines"), XdrReader.readHyper(b, "words")));

    /** string greet(string name) */
    static final ProcedureDescriptor<String, String> GREET = ProcedureDescriptor.of(Procedure.of(PROGRAM, 1, 1),
            XdrCodec.STRING, XdrCodec.STRING);
    /** stream count_words(string title) -> string (opening reply); lines up, counts down; summary (result) */
    static final ProcedureDescriptor<String, String> COUNT_WORDS = ProcedureDescriptor.of(Procedure.of(PROGRAM, 1, 2),
            XdrCodec.STRING, XdrCodec.STRING);

    private TypedService() {
    }

    /**
     * Serves the two procedures and calls them, in this one JVM, printing what happens to standard output.
     *
     * @param args ignored
     * @throws Exception whatever the server, the call or the stream failed with
     */
    public static void main(final String[] args) throws Exception {
        run(System.out);
    }

    static void run(final PrintStream out) throws Exception {
        try (Braid braid = Braid.create()) {
            final BraidServer server = braid.server()
                    .handle(GREET, (name, call) -> "Hello, " + name + "!")
                    .stream(COUNT_WORDS, (title, call, stream) -> countWords(title, call, stream))
                    .bind(0);
            try (Connection c = braid.connect(server.address())) {
                out.println("typed service on " + server.address().getHostString() + ":" + server.address().getPort()
                        + ", backend " + c.backendName());
                out.println("greet(\"braid\") -> " + c.call(GREET, "braid"));

                final BraidStream s = c.openStream(COUNT_WORDS, "a poem", StreamOptions.DEFAULT);
                out.println("count_words(\"a poem\") opened: " + s.openingReply(COUNT_WORDS.reply()));
                for (String line : List.of("one stream carries many calls", "and no stream holds up a call",
                        "however large", "or slow")) {
                    s.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
                }
                s.closeWrite(); // half-close: our lines are done; the server's answers keep coming
                final BufferedReader answers = new BufferedReader(new InputStreamReader(s.inputStream(),
                        StandardCharsets.UTF_8));
                String answer;
                while ((answer = answers.readLine()) != null) { // until the server's end of data
                    out.println("  " + answer);
                }
                final Summary summary = s.finish(SUMMARY); // the server's result, in its final OK
                out.println("result: " + summary.lines() + " lines, " + summary.words() + " words");
            }
            server.close();
        }
    }

    /** The streaming method, on a virtual thread of its own: reads lines to the client's EOF, answers each. */
    private static void countWords(final String title, final dev.braid.IncomingCall call, final BraidStream stream)
            throws Exception {
        call.reply(COUNT_WORDS.reply(), "counting the words of " + title + ", one answer per line");
        final BufferedReader lines = new BufferedReader(new InputStreamReader(stream.inputStream(),
                StandardCharsets.UTF_8));
        long n = 0;
        long words = 0;
        String line;
        while ((line = lines.readLine()) != null) {
            final int w = line.isBlank() ? 0 : line.trim().split("\\s+").length;
            n++;
            words += w;
            stream.write(ByteBuffer.wrap((w + " words: " + line + "\n").getBytes(StandardCharsets.UTF_8)));
        }
        stream.finish(SUMMARY, new Summary(n, words)); // our EOF, the client's OK, our OK with the summary
    }
}
