using RegPS.Engine.Images;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>Options of <see cref="DeformationGrid"/>.</summary>
public sealed record DeformationGridOptions
{
    public static DeformationGridOptions Default { get; } = new();

    /// <summary>Voxels between neighbouring grid lines (DIPY's plot_diffeomorphic_map uses a similar lattice).</summary>
    public int LineSpacing { get; init; } = 8;

    /// <summary>Integer upscaling (each voxel becomes Scale x Scale pixels); null for the smallest one that makes the picture at least 256 pixels wide.</summary>
    public int? Scale { get; init; }

    /// <summary>An optional image on the same plane (NX x NY, one slice) drawn under the lines in grey, normalised to its maximum.</summary>
    public Image? Underlay { get; init; }

    /// <summary>Opacity of the underlay over the black background, 0..1.</summary>
    public float UnderlayOpacity { get; init; } = 0.5f;

    /// <summary>Colour of the grid lines.</summary>
    public SKColor LineColour { get; init; } = new(255, 255, 0);

    /// <summary>Line width in output pixels.</summary>
    public float LineWidth { get; init; } = 1;

    /// <summary>
    /// Anti-aliased lines: smoother where bent, but Skia draws a straight one-pixel vertical line at 75% intensity.
    /// Off by default, so lines are exact pixels of LineColour (and the picture does not depend on Skia's AA rasteriser).
    /// </summary>
    public bool Antialias { get; init; }

    /// <summary>A title drawn in a strip above the picture (needs the module's font).</summary>
    public string? Title { get; init; }

    /// <summary>Orientation letters at the edges, from the plane grid's matrix (3D plane grids only, as <see cref="Slices.PlaneGrid"/> gives).</summary>
    public bool OrientationLetters { get; init; }

    /// <summary>Whether the y index increases upwards on screen; null: true for a 3D grid (a slice, as StereoOverlay draws 3D slices), false for a 2D grid (a picture).</summary>
    public bool? IndexIncreasesUp { get; init; }
}

/// <summary>
/// Draws a 2D displacement field as a warped regular lattice, as DIPY's plot_diffeomorphic_map does: each lattice line
/// is the polyline through the displaced positions (x + dx, y + dy) of points along it, so lines stay straight where
/// nothing moved and bend where the field does.
/// <para>
/// Geometry: lattice lines run along x = x0 + k * LineSpacing and y = y0 + k * LineSpacing with
/// x0 = ((NX - 1) mod LineSpacing) / 2 (integer division; likewise y0), which centres the lattice. Points are taken
/// every half voxel along each line and the field is sampled there bilinearly (clamped at the border). Voxel x is
/// drawn at pixel centre x * Scale + floor(Scale / 2) + 0.5, so an undisplaced line covers exactly one pixel column
/// (column x * Scale + floor(Scale / 2)); y likewise, counted from the top, or from the bottom when the index
/// increases upwards.
/// </para>
/// </summary>
public static class DeformationGrid
{
    /// <param name="grid">The reference plane: x across, y vertical; it must have one slice (NZ = 1): a 2D grid or the grid of one slice of a 3D image.</param>
    /// <param name="dx">Displacement along x in voxels of <paramref name="grid"/>, NX * NY values, x fastest.</param>
    /// <param name="dy">Displacement along y in voxels, same layout.</param>
    public static SKBitmap Render(Grid grid, float[] dx, float[] dy, DeformationGridOptions? options = null)
    {
        SkiaNative.EnsureResolver();
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentNullException.ThrowIfNull(dx);
        ArgumentNullException.ThrowIfNull(dy);
        var o = options ?? DeformationGridOptions.Default;
        if (grid.NZ != 1)
            throw new ArgumentException($"A deformation grid is drawn on one plane; the grid is {string.Join("x", grid.Shape)}. Pass the grid of one slice (NZ = 1) and that slice's in-plane displacements.", nameof(grid));
        int nx = grid.NX, ny = grid.NY, n = nx * ny;
        if (dx.Length != n || dy.Length != n)
            throw new ArgumentException($"The displacement arrays need {n} values each (NX * NY = {nx} * {ny}); got {dx.Length} and {dy.Length}.", nameof(dx));
        if (o.LineSpacing < 1) throw new ArgumentOutOfRangeException(nameof(options), "LineSpacing must be 1 or more.");
        if (!(o.LineWidth > 0)) throw new ArgumentOutOfRangeException(nameof(options), "LineWidth must be positive.");
        if (!(o.UnderlayOpacity >= 0 && o.UnderlayOpacity <= 1)) throw new ArgumentOutOfRangeException(nameof(options), "UnderlayOpacity must be between 0 and 1.");
        int s = Raster.CheckScale(o.Scale, nx, ny);
        bool up = o.IndexIncreasesUp ?? grid.Dimension == 3;

        int w = nx * s, h = ny * s;
        var background = new byte[3 * n];
        if (o.Underlay is { } u)
        {
            if (u.Grid.NX != nx || u.Grid.NY != ny || u.Grid.NZ != 1 || u.Volumes != 1)
                throw new ArgumentException($"The underlay must be one {nx}x{ny} plane like the grid; it is {u.Grid} x{u.Volumes}.", nameof(options));
            float max = Raster.FiniteMax(u.Voxels);
            double full = 255.0 * o.UnderlayOpacity;
            var v = u.Voxels;
            for (int y = 0; y < ny; y++)
            {
                int row = up ? ny - 1 - y : y;
                for (int x = 0; x < nx; x++)
                {
                    byte b = Raster.ToByte(v[y * nx + x], max, full);
                    int d = 3 * (row * nx + x);
                    background[d] = background[d + 1] = background[d + 2] = b;
                }
            }
        }
        var bitmap = Raster.FromRgb(Raster.Upscale(background, nx, ny, s), w, h);

        using var canvas = new SKCanvas(bitmap);
        using var paint = new SKPaint
        {
            Color = o.LineColour,
            Style = SKPaintStyle.Stroke,
            StrokeWidth = o.LineWidth,
            IsAntialias = o.Antialias,
            StrokeJoin = SKStrokeJoin.Round,
            StrokeCap = SKStrokeCap.Butt,
        };
        double half = Math.Floor(s / 2.0) + 0.5;
        float Px(double x) => (float)(x * s + half);
        float Py(double y) => (float)((up ? ny - 1 - y : y) * s + half);

        const int sub = 2; // points per voxel along a line
        int spacing = o.LineSpacing;
        using var path = new SKPath();
        // Vertical lines: x fixed at a lattice column, y swept over the grid.
        for (int x0 = ((nx - 1) % spacing) / 2; x0 < nx; x0 += spacing)
        {
            path.Reset();
            int count = (ny - 1) * sub;
            for (int t = 0; t <= count; t++)
            {
                double y = (double)t / sub;
                var (ux, uy) = Sample(dx, dy, nx, ny, x0, y);
                if (t == 0) path.MoveTo(Px(x0 + ux), Py(y + uy)); else path.LineTo(Px(x0 + ux), Py(y + uy));
            }
            if (count == 0) { var (ux, uy) = Sample(dx, dy, nx, ny, x0, 0); path.LineTo(Px(x0 + ux), Py(uy)); }
            canvas.DrawPath(path, paint);
        }
        // Horizontal lines: y fixed at a lattice row, x swept.
        for (int y0 = ((ny - 1) % spacing) / 2; y0 < ny; y0 += spacing)
        {
            path.Reset();
            int count = (nx - 1) * sub;
            for (int t = 0; t <= count; t++)
            {
                double x = (double)t / sub;
                var (ux, uy) = Sample(dx, dy, nx, ny, x, y0);
                if (t == 0) path.MoveTo(Px(x + ux), Py(y0 + uy)); else path.LineTo(Px(x + ux), Py(y0 + uy));
            }
            if (count == 0) { var (ux, uy) = Sample(dx, dy, nx, ny, 0, y0); path.LineTo(Px(ux), Py(y0 + uy)); }
            canvas.DrawPath(path, paint);
        }
        if (o.OrientationLetters && grid.Dimension == 3)
            Annotations.DrawLetters(canvas, new SKRect(0, 0, w, h), Annotations.Letters(grid, 0, 1, up));
        canvas.Flush();
        if (string.IsNullOrEmpty(o.Title)) return bitmap;
        using (bitmap) return Annotations.WithTitles(bitmap, new (string?, int, int)[] { (o.Title, 0, w) });
    }

    /// <summary>Renders and writes a PNG atomically (temporary file then rename; an existing file is replaced only when <paramref name="overwrite"/>).</summary>
    public static void WritePng(Grid grid, float[] dx, float[] dy, string path, DeformationGridOptions? options = null, bool overwrite = false)
    {
        SkiaNative.EnsureResolver();
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var bitmap = Render(grid, dx, dy, options);
        Raster.WritePng(bitmap, path, overwrite);
    }

    /// <summary>
    /// Bilinear interpolation of both field components at continuous voxel (x, y), clamping the position to the grid
    /// (the border value continues outwards). Non-finite displacements count as 0.
    /// </summary>
    internal static (double Dx, double Dy) Sample(float[] dx, float[] dy, int nx, int ny, double x, double y)
    {
        x = Math.Clamp(x, 0, nx - 1);
        y = Math.Clamp(y, 0, ny - 1);
        int x0 = Math.Min((int)x, Math.Max(nx - 2, 0)), y0 = Math.Min((int)y, Math.Max(ny - 2, 0));
        int x1 = Math.Min(x0 + 1, nx - 1), y1 = Math.Min(y0 + 1, ny - 1);
        double fx = x - x0, fy = y - y0;
        int i00 = y0 * nx + x0, i10 = y0 * nx + x1, i01 = y1 * nx + x0, i11 = y1 * nx + x1;
        double w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy;
        return (w00 * F(dx[i00]) + w10 * F(dx[i10]) + w01 * F(dx[i01]) + w11 * F(dx[i11]),
                w00 * F(dy[i00]) + w10 * F(dy[i10]) + w01 * F(dy[i01]) + w11 * F(dy[i11]));
    }

    private static double F(float v) => float.IsFinite(v) ? v : 0;
}
