package dev.braid.tooling;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The one latency chart of braid's programs (the demo's {@code --chart} and the benchmark report's
 * {@code --image}): call latency percentiles p50 ... p99.99, and the maximum when the series carry it, on the x
 * axis; microseconds on a log-scaled y axis. One colour and marker per named system or backend, a solid line
 * for calls alone and a dashed one for calls beside streams. Drawn as a PNG through {@code java.awt}
 * (headless) and as SVG text, from the same layout code.
 *
 * <p>Not thread-safe: create, render, drop.
 */
public final class LatencyChart {
    /** The percentiles on the x axis, in percent. */
    public static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};
    private static final String[] PERCENTILE_LABELS = {"p50", "p90", "p99", "p99.9", "p99.99"};

    /** Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. */
    private static final Color[] COLOURS = {
            new Color(0x0072B2), new Color(0xD55E00), new Color(0x009E73), new Color(0xCC79A7),
            new Color(0xE69F00), new Color(0x56B4E9), new Color(0x000000)};

    /** Size of the image in pixels (and of the SVG's view box). */
    public static final int WIDTH = 960;
    public static final int HEIGHT = 560;
    private static final int LEFT = 90;
    private static final int TOP = 70;
    private static final int PLOT_RIGHT = WIDTH - 250;
    private static final int PLOT_BOTTOM = HEIGHT - 70;

    /**
     * One line of the chart.
     *
     * @param name   legend name of the system or backend, e.g. "braid nio"; the lines of one name share a
     *               colour and a marker
     * @param dashed false for calls alone (solid), true for calls beside streams (dashed)
     * @param micros latency at each of {@link #PERCENTILES}, then optionally the maximum, in microseconds;
     *               NaN or 0 where unknown
     */
    public record Series(String name, boolean dashed, double[] micros) {
    }

    /**
     * What the legend says.
     *
     * @param heading     above the names, e.g. "backend"
     * @param solidLabel  what a solid line is, e.g. "calls alone"
     * @param dashedLabel what a dashed line is, e.g. "beside 4 streams"
     */
    public record Legend(String heading, String solidLabel, String dashedLabel) {
    }

    private final String title;
    private final String subtitle;
    private final Legend legend;
    private final List<Series> series;
    private final List<String> names = new ArrayList<>();
    private final String[] xLabels;

    public LatencyChart(final String title, final String subtitle, final Legend legend, final List<Series> series) {
        this.title = title;
        this.subtitle = subtitle;
        this.legend = legend;
        this.series = List.copyOf(series);
        boolean withMax = false;
        for (final Series s : series) {
            if (!names.contains(s.name())) {
                names.add(s.name());
            }
            withMax |= s.micros().length > PERCENTILES.length;
        }
        xLabels = withMax ? java.util.stream.Stream.concat(java.util.Arrays.stream(PERCENTILE_LABELS),
                java.util.stream.Stream.of("max")).toArray(String[]::new) : PERCENTILE_LABELS;
    }

    /** Whether there is at least one point to draw. */
    public boolean hasData() {
        return series.stream().anyMatch(s -> java.util.Arrays.stream(s.micros()).anyMatch(v -> v > 0));
    }

    /**
     * Writes the PNG, creating missing parent directories. Sets {@code java.awt.headless} if it is unset.
     *
     * @throws IOException if the file cannot be written (one message, no stack trace printed on the way)
     */
    public void writePng(final Path file) throws IOException {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        final BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        final Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            draw(new AwtCanvas(g));
        } finally {
            g.dispose();
        }
        createParent(file);
        // through our own stream: ImageIO.write(File) prints a stack trace of its own when it cannot open it
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(file))) {
            if (!ImageIO.write(image, "png", os)) {
                throw new IOException("this JDK has no PNG writer");
            }
        }
    }

    /** The chart as an SVG document. */
    public String svg() {
        final SvgCanvas c = new SvgCanvas();
        draw(c);
        return c.document();
    }

    public void writeSvg(final Path file) throws IOException {
        createParent(file);
        Files.writeString(file, svg(), StandardCharsets.UTF_8);
    }

    private static void createParent(final Path file) throws IOException {
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
    }

    // ---- layout, shared by both outputs ----

    private void draw(final Canvas c) {
        c.rect(0, 0, WIDTH, HEIGHT, null, Color.WHITE);
        c.text(WIDTH / 2.0, 30, title, 18, Anchor.MIDDLE, true, Color.BLACK, false);
        c.text(WIDTH / 2.0, 52, subtitle, 13, Anchor.MIDDLE, false, Color.DARK_GRAY, false);

        double min = Double.POSITIVE_INFINITY;
        double max = 0;
        for (final Series s : series) {
            for (final double v : s.micros()) {
                if (v > 0) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
        }
        if (max == 0) {
            min = 1;
            max = 10;
        }
        final int loDecade = (int) Math.floor(Math.log10(min));
        int hiDecade = (int) Math.ceil(Math.log10(max));
        if (hiDecade <= loDecade) {
            hiDecade = loDecade + 1;
        }
        final double logLo = loDecade;
        final double logHi = hiDecade;
        final java.util.function.DoubleUnaryOperator y =
                v -> PLOT_BOTTOM - (Math.log10(v) - logLo) / (logHi - logLo) * (PLOT_BOTTOM - TOP);
        final double step = (PLOT_RIGHT - LEFT - 60.0) / (xLabels.length - 1);
        final java.util.function.IntToDoubleFunction x = i -> LEFT + 30 + i * step;

        // grid: decades labelled, 2..9 light
        final Color grid = new Color(0xDDDDDD);
        final Color minorGrid = new Color(0xF0F0F0);
        for (int d = loDecade; d <= hiDecade; d++) {
            final double decade = Math.pow(10, d);
            if (d < hiDecade) {
                for (int k = 2; k <= 9; k++) {
                    final double yy = y.applyAsDouble(k * decade);
                    c.line(LEFT, yy, PLOT_RIGHT, yy, minorGrid, 1, false);
                    if (hiDecade - loDecade <= 2 && (k == 2 || k == 5)) {
                        c.text(LEFT - 8, yy + 4, micros(k * decade), 10, Anchor.END, false, Color.GRAY, false);
                    }
                }
            }
            final double yy = y.applyAsDouble(decade);
            c.line(LEFT, yy, PLOT_RIGHT, yy, grid, 1, false);
            c.text(LEFT - 8, yy + 4, micros(decade), 12, Anchor.END, false, Color.BLACK, false);
        }
        for (int i = 0; i < xLabels.length; i++) {
            final double xx = x.applyAsDouble(i);
            c.line(xx, TOP, xx, PLOT_BOTTOM, grid, 1, false);
            c.text(xx, PLOT_BOTTOM + 20, xLabels[i], 12, Anchor.MIDDLE, false, Color.BLACK, false);
        }
        c.rect(LEFT, TOP, PLOT_RIGHT - LEFT, PLOT_BOTTOM - TOP, Color.BLACK, null);
        c.text((LEFT + PLOT_RIGHT) / 2.0, PLOT_BOTTOM + 45, "percentile of calls", 13, Anchor.MIDDLE, false,
                Color.BLACK, false);
        c.text(25, (TOP + PLOT_BOTTOM) / 2.0, "call latency, µs (log scale)", 13, Anchor.MIDDLE, false,
                Color.BLACK, true);

        // lines
        for (final Series s : series) {
            final int k = names.indexOf(s.name());
            final Color colour = COLOURS[k % COLOURS.length];
            double px = Double.NaN;
            double py = Double.NaN;
            for (int i = 0; i < xLabels.length && i < s.micros().length; i++) {
                final double v = s.micros()[i];
                if (!(v > 0)) {
                    px = Double.NaN;
                    continue;
                }
                final double xx = x.applyAsDouble(i);
                final double yy = y.applyAsDouble(v);
                if (!Double.isNaN(px)) {
                    c.line(px, py, xx, yy, colour, 2.5f, s.dashed());
                }
                c.marker(xx, yy, k, colour);
                px = xx;
                py = yy;
            }
        }

        // legend: one entry per name (colour, marker), then the two line styles
        final double lx = PLOT_RIGHT + 25;
        double ly = TOP + 10;
        c.text(lx, ly, legend.heading(), 13, Anchor.START, true, Color.BLACK, false);
        ly += 22;
        for (int k = 0; k < names.size(); k++) {
            final Color colour = COLOURS[k % COLOURS.length];
            c.line(lx, ly - 4, lx + 36, ly - 4, colour, 2.5f, false);
            c.marker(lx + 18, ly - 4, k, colour);
            c.text(lx + 46, ly, names.get(k), 13, Anchor.START, false, Color.BLACK, false);
            ly += 22;
        }
        ly += 12;
        c.text(lx, ly, "line", 13, Anchor.START, true, Color.BLACK, false);
        ly += 22;
        c.line(lx, ly - 4, lx + 36, ly - 4, Color.DARK_GRAY, 2.5f, false);
        c.text(lx + 46, ly, legend.solidLabel(), 13, Anchor.START, false, Color.BLACK, false);
        ly += 22;
        c.line(lx, ly - 4, lx + 36, ly - 4, Color.DARK_GRAY, 2.5f, true);
        c.text(lx + 46, ly, legend.dashedLabel(), 13, Anchor.START, false, Color.BLACK, false);
    }

    /** "10 µs", "1 ms", "100 ms", "2 s" for an axis label. */
    public static String micros(final double us) {
        if (us >= 1e6) {
            return trim(us / 1e6) + " s";
        }
        if (us >= 1e3) {
            return trim(us / 1e3) + " ms";
        }
        if (us >= 1) {
            return trim(us) + " µs";
        }
        return trim(us * 1e3) + " ns";
    }

    private static String trim(final double v) {
        final String s = String.format(Locale.ROOT, "%.3f", v);
        return s.replaceAll("\\.?0+$", "");
    }

    private enum Anchor { START, MIDDLE, END }

    /** What the layout draws with; the two implementations below. */
    private interface Canvas {
        void line(double x1, double y1, double x2, double y2, Color colour, float width, boolean dashed);

        void rect(double x, double y, double w, double h, Color stroke, Color fill);

        /** Marker shape {@code shape % 4}: circle, square, triangle, diamond. */
        void marker(double x, double y, int shape, Color colour);

        void text(double x, double y, String text, float size, Anchor anchor, boolean bold, Color colour,
                  boolean vertical);
    }

    private static final float[] DASH = {8f, 6f};
    private static final double MARKER = 4.5;

    private static Path2D markerPath(final double x, final double y, final int shape) {
        final Path2D p = new Path2D.Double();
        final double r = MARKER;
        switch (shape % 4) {
            case 0 -> p.append(new java.awt.geom.Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r), false);
            case 1 -> p.append(new Rectangle2D.Double(x - r, y - r, 2 * r, 2 * r), false);
            case 2 -> {
                p.moveTo(x, y - r - 1);
                p.lineTo(x + r + 1, y + r);
                p.lineTo(x - r - 1, y + r);
                p.closePath();
            }
            default -> {
                p.moveTo(x, y - r - 1);
                p.lineTo(x + r + 1, y);
                p.lineTo(x, y + r + 1);
                p.lineTo(x - r - 1, y);
                p.closePath();
            }
        }
        return p;
    }

    private static final class AwtCanvas implements Canvas {
        private final Graphics2D g;

        AwtCanvas(final Graphics2D g) {
            this.g = g;
        }

        @Override
        public void line(final double x1, final double y1, final double x2, final double y2, final Color colour,
                         final float width, final boolean dashed) {
            g.setColor(colour);
            g.setStroke(dashed ? new BasicStroke(width, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, DASH, 0f)
                    : new BasicStroke(width));
            g.draw(new Line2D.Double(x1, y1, x2, y2));
        }

        @Override
        public void rect(final double x, final double y, final double w, final double h, final Color stroke,
                         final Color fill) {
            final Rectangle2D r = new Rectangle2D.Double(x, y, w, h);
            if (fill != null) {
                g.setColor(fill);
                g.fill(r);
            }
            if (stroke != null) {
                g.setColor(stroke);
                g.setStroke(new BasicStroke(1));
                g.draw(r);
            }
        }

        @Override
        public void marker(final double x, final double y, final int shape, final Color colour) {
            final Path2D p = markerPath(x, y, shape);
            g.setColor(colour);
            g.fill(p);
            g.setColor(Color.WHITE);
            g.setStroke(new BasicStroke(1));
            g.draw(p);
        }

        @Override
        public void text(final double x, final double y, final String text, final float size, final Anchor anchor,
                         final boolean bold, final Color colour, final boolean vertical) {
            g.setFont(new Font(Font.SANS_SERIF, bold ? Font.BOLD : Font.PLAIN, Math.round(size)));
            g.setColor(colour);
            final double w = g.getFontMetrics().getStringBounds(text, g).getWidth();
            final double dx = switch (anchor) {
                case START -> 0;
                case MIDDLE -> -w / 2;
                case END -> -w;
            };
            if (vertical) {
                final AffineTransform saved = g.getTransform();
                g.rotate(-Math.PI / 2, x, y);
                g.drawString(text, (float) (x + dx), (float) y);
                g.setTransform(saved);
            } else {
                g.drawString(text, (float) (x + dx), (float) y);
            }
        }
    }

    private static final class SvgCanvas implements Canvas {
        private final StringBuilder body = new StringBuilder();

        String document() {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + WIDTH + "\" height=\"" + HEIGHT
                    + "\" viewBox=\"0 0 " + WIDTH + " " + HEIGHT + "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
                    + body + "</svg>\n";
        }

        @Override
        public void line(final double x1, final double y1, final double x2, final double y2, final Color colour,
                         final float width, final boolean dashed) {
            body.append(String.format(Locale.ROOT,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>%n",
                    x1, y1, x2, y2, hex(colour), width, dashed ? " stroke-dasharray=\"8 6\"" : ""));
        }

        @Override
        public void rect(final double x, final double y, final double w, final double h, final Color stroke,
                         final Color fill) {
            body.append(String.format(Locale.ROOT,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>%n",
                    x, y, w, h, fill == null ? "none" : hex(fill), stroke == null ? "none" : hex(stroke)));
        }

        @Override
        public void marker(final double x, final double y, final int shape, final Color colour) {
            final StringBuilder d = new StringBuilder();
            final double[] coords = new double[6];
            for (var it = markerPath(x, y, shape).getPathIterator(null, 0.5); !it.isDone(); it.next()) {
                switch (it.currentSegment(coords)) {
                    case java.awt.geom.PathIterator.SEG_MOVETO ->
                            d.append(String.format(Locale.ROOT, "M%.1f %.1f ", coords[0], coords[1]));
                    case java.awt.geom.PathIterator.SEG_LINETO ->
                            d.append(String.format(Locale.ROOT, "L%.1f %.1f ", coords[0], coords[1]));
                    case java.awt.geom.PathIterator.SEG_CLOSE -> d.append("Z ");
                    default -> {
                    }
                }
            }
            body.append("<path d=\"").append(d.toString().trim()).append("\" fill=\"").append(hex(colour))
                    .append("\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n");
        }

        @Override
        public void text(final double x, final double y, final String text, final float size, final Anchor anchor,
                         final boolean bold, final Color colour, final boolean vertical) {
            final String a = switch (anchor) {
                case START -> "start";
                case MIDDLE -> "middle";
                case END -> "end";
            };
            body.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"%s\""
                            + " fill=\"%s\"%s%s>%s</text>%n", x, y, size, a, hex(colour),
                    bold ? " font-weight=\"bold\"" : "",
                    vertical ? String.format(Locale.ROOT, " transform=\"rotate(-90 %.1f %.1f)\"", x, y) : "",
                    escape(text)));
        }

        private static String hex(final Color c) {
            return String.format(Locale.ROOT, "#%02x%02x%02x", c.getRed(), c.getGreen(), c.getBlue());
        }

        private static String escape(final String s) {
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
        }
    }
}
