using System.Globalization;
using RegPS.Engine.Common;
using RegPS.Engine.Registration;
using ScottPlot;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>Options of <see cref="MotionPlot"/>.</summary>
public sealed record MotionPlotOptions
{
    public int Width { get; init; } = 900;
    public int Height { get; init; } = 600;

    /// <summary>The framewise-displacement threshold drawn across the FD panel (mm).</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Repetition time (s): when above 0 the x axis is labelled in seconds, else in volumes.</summary>
    public double RepetitionTime { get; init; }

    /// <summary>A title above the plot (empty for none).</summary>
    public string Title { get; init; } = "";
}

/// <summary>
/// A motion QC plot drawn with ScottPlot 5 on a SkiaSharp canvas: three panels over time, top to bottom, translations
/// (mm), rotations (degrees) and framewise displacement (mm) with the threshold as a horizontal line and the volumes
/// above it marked. Colours: x red, y green, z blue, FD black, threshold orange, volumes above it purple. Each panel has
/// its axis labels with units and (from 450x300 pixels up) a legend at its right; the panels share one x axis (volume,
/// or seconds with a repetition time), labelled under the bottom panel.
/// Text uses the module's DejaVu Sans Mono (module/fonts), so it renders on machines without system fonts.
/// </summary>
public static class MotionPlot
{
    public static readonly SKColor XColour = new(214, 39, 40), YColour = new(44, 160, 44), ZColour = new(31, 119, 180);
    public static readonly SKColor FdColour = SKColors.Black, ThresholdColour = new(255, 127, 14), AboveColour = new(148, 103, 189);

    /// <summary>The name under which the module's font is registered with ScottPlot.</summary>
    internal const string FontName = "RegPS DejaVu Sans Mono";

    // ScottPlot keeps its font resolvers and typeface caches in static state: register the font once, and draw one plot
    // at a time (a plot takes tens of milliseconds; BIDS batches may write several at once).
    private static readonly Lazy<bool> FontRegistered = new(RegisterFont, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly object RenderGate = new();

    public static SKBitmap Render(IReadOnlyList<MotionParameters> parameters, MotionPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new MotionPlotOptions();
        if (parameters.Count < 2) throw new ArgumentException("A motion plot needs at least 2 volumes.", nameof(parameters));
        if (options.Width is < 200 or > Raster.MaxSide || options.Height is < 150 or > Raster.MaxSide)
            throw new ArgumentException($"The plot must be 200 to {Raster.MaxSide} pixels wide and 150 to {Raster.MaxSide} high, got {options.Width}x{options.Height}.");
        if (!double.IsFinite(options.Threshold) || options.Threshold < 0)
            throw new ArgumentException($"The framewise-displacement threshold must be a finite number >= 0, got {options.Threshold}.");
        SkiaNative.EnsureResolver();
        bool haveFont = FontRegistered.Value;
        int n = parameters.Count;
        const double deg = 180 / Math.PI;
        bool seconds = options.RepetitionTime > 0;
        var time = Enumerable.Range(0, n).Select(t => seconds ? t * options.RepetitionTime : t).ToArray();
        var trans = new[] { parameters.Select(p => p.TransX).ToArray(), parameters.Select(p => p.TransY).ToArray(), parameters.Select(p => p.TransZ).ToArray() };
        var rots = new[] { parameters.Select(p => p.RotX * deg).ToArray(), parameters.Select(p => p.RotY * deg).ToArray(), parameters.Select(p => p.RotZ * deg).ToArray() };
        var fd = parameters.Select(p => p.FramewiseDisplacement).ToArray();
        var above = Enumerable.Range(0, n).Where(t => double.IsFinite(fd[t]) && fd[t] > options.Threshold).ToArray();

        // Text and line sizes follow the picture's size (the defaults suit 900x600).
        float scale = (float)Math.Clamp(Math.Min(options.Width / 900.0, options.Height / 600.0), 0.4, 4);
        bool legends = options.Width >= 450 && options.Height >= 300;   // below that the legends would crowd out the curves
        string xLabel = seconds ? "time (s)" : "volume";
        string threshold = Tick(options.Threshold);

        lock (RenderGate)
        {
            using var top = new Plot();
            using var middle = new Plot();
            using var bottom = new Plot();
            var plots = new[] { top, middle, bottom };
            string[] axes = ["x", "y", "z"];
            var xyz = new[] { XColour, YColour, ZColour };
            for (int s = 0; s < 3; s++)
            {
                AddLine(top, time, trans[s], xyz[s], $"{axes[s]} (trans_{axes[s]})", scale);
                AddLine(middle, time, rots[s], xyz[s], $"{axes[s]} (rot_{axes[s]})", scale);
            }
            AddLine(bottom, time, fd, FdColour, "FD", scale);
            var line = bottom.Add.HorizontalLine(options.Threshold, Math.Max(2, 2 * scale), Colour(ThresholdColour));
            line.LegendText = $"threshold {threshold} mm";
            if (above.Length > 0)
            {
                var marks = bottom.Add.Markers(above.Select(t => time[t]).ToArray(), above.Select(t => fd[t]).ToArray(),
                    MarkerShape.FilledCircle, Math.Max(7, 8 * scale), Colour(AboveColour));
                marks.LegendText = $"> {threshold} mm ({above.Length})";
            }

            top.YLabel("translation (mm)");
            middle.YLabel("rotation (deg)");
            bottom.YLabel("FD (mm)");
            bottom.XLabel(xLabel);
            if (!string.IsNullOrEmpty(options.Title)) top.Title(options.Title);

            double end = time[n - 1];
            SetLimitsY(top, trans.SelectMany(v => v), fromZero: false, floor: 0);
            SetLimitsY(middle, rots.SelectMany(v => v), fromZero: false, floor: 0);
            SetLimitsY(bottom, fd, fromZero: true, floor: options.Threshold);
            foreach (var plot in plots)
            {
                plot.Axes.SetLimitsX(0, end);
                if (haveFont) plot.Font.Set(FontName);
                plot.Axes.Title.Label.FontSize = 15 * scale;
                foreach (var axis in plot.Axes.GetAxes())
                {
                    axis.Label.FontSize = 13 * scale;
                    axis.TickLabelStyle.FontSize = 11 * scale;
                }
                plot.Legend.FontSize = 11 * scale;
                if (legends) plot.ShowLegend(Edge.Right);
                else plot.HideLegend();
            }
            // The panels share the time axis: its tick labels only under the bottom one.
            top.Axes.Bottom.TickLabelStyle.IsVisible = false;
            middle.Axes.Bottom.TickLabelStyle.IsVisible = false;

            // Three panels of equal height stacked top to bottom, each drawn on its own canvas (ScottPlot clears the
            // canvas it renders on) and then copied into the picture.
            int w = options.Width, h = options.Height;
            int[] edges = [0, h / 3, 2 * h / 3, h];
            var panels = new SKBitmap[3];
            try
            {
                for (int k = 0; k < 3; k++)
                    panels[k] = new SKBitmap(new SKImageInfo(w, edges[k + 1] - edges[k], SKColorType.Rgba8888, SKAlphaType.Premul));

                // First lay each panel out on its own, then give all the widest left and right margins, so that their
                // data areas (and so their time axes) line up column for column.
                var pads = new PixelPadding[3];
                for (int k = 0; k < 3; k++)
                {
                    RenderPanel(plots[k], panels[k]);
                    var data = plots[k].RenderManager.LastRender.DataRect;
                    pads[k] = new PixelPadding(data.Left, panels[k].Width - data.Right, panels[k].Height - data.Bottom, data.Top);
                }
                float left = pads.Max(p => p.Left), right = pads.Max(p => p.Right);
                var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
                try
                {
                    using var canvas = new SKCanvas(bitmap);
                    canvas.Clear(SKColors.White);
                    for (int k = 0; k < 3; k++)
                    {
                        plots[k].Layout.Fixed(new PixelPadding(left, right, pads[k].Bottom, pads[k].Top));
                        RenderPanel(plots[k], panels[k]);
                        canvas.DrawBitmap(panels[k], 0, edges[k]);
                    }
                    canvas.Flush();
                }
                catch
                {
                    bitmap.Dispose();
                    throw;
                }
                return bitmap;
            }
            finally
            {
                foreach (var panel in panels) panel?.Dispose();
            }
        }
    }

    private static void RenderPanel(Plot plot, SKBitmap panel)
    {
        using var canvas = new SKCanvas(panel);
        plot.Render(canvas, panel.Width, panel.Height);
        canvas.Flush();
    }

    /// <summary>Renders the plot and writes it as a PNG (atomically).</summary>
    public static void WritePng(IReadOnlyList<MotionParameters> parameters, string path, MotionPlotOptions? options = null, bool overwrite = false, CancellationToken ct = default)
    {
        using var bitmap = Render(parameters, options);
        AtomicFile.Write(path, overwrite, s => Raster.EncodePng(bitmap, s), ct);
    }

    private static ScottPlot.Color Colour(SKColor c) => new(c.Red, c.Green, c.Blue);

    /// <summary>A line through the finite values; a non-finite value (FD's first volume) is left out.</summary>
    private static void AddLine(Plot plot, double[] time, double[] values, SKColor colour, string legend, float scale)
    {
        var keep = Enumerable.Range(0, values.Length).Where(t => double.IsFinite(values[t])).ToArray();
        var line = plot.Add.ScatterLine(keep.Select(t => time[t]).ToArray(), keep.Select(t => values[t]).ToArray(), Colour(colour));
        line.LineWidth = Math.Max(2, 2 * scale);
        line.LegendText = legend;
    }

    /// <summary>The y range: the finite values and <paramref name="floor"/> with a margin; FD's starts at 0.</summary>
    private static void SetLimitsY(Plot plot, IEnumerable<double> values, bool fromZero, double floor)
    {
        var finite = values.Where(double.IsFinite).ToList();
        double lo = fromZero ? 0 : Math.Min(floor, finite.DefaultIfEmpty(0).Min());
        double hi = Math.Max(floor, finite.DefaultIfEmpty(0).Max());
        double pad = Math.Max(1e-3, (hi - lo) * 0.08);
        plot.Axes.SetLimitsY(fromZero ? 0 : lo - pad, hi + pad);
    }

    private static bool RegisterFont()
    {
        var path = Fonts.Path;
        if (path is null) return false;
        ScottPlot.Fonts.AddFontFile(FontName, path);
        return true;
    }

    private static string Tick(double v) => v.ToString(Math.Abs(v) >= 10 ? "0.#" : "0.##", CultureInfo.InvariantCulture);
}
