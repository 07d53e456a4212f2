using RegPS.Engine.Fields;
using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>
/// A displacement field: a grid plus one world-mm vector per voxel (2 components on a 2D grid, 3 on a 3D grid),
/// float32, interleaved (components fastest, then x, y, z). Immutable once built.
/// </summary>
public sealed class DisplacementField
{
    private readonly float[] _data;

    /// <param name="grid">The grid the vectors sit on.</param>
    /// <param name="interleaved">grid.VoxelCount * grid.Dimension values (x, y[, z] mm per voxel); the field takes ownership.</param>
    public DisplacementField(Grid grid, float[] interleaved)
    {
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentNullException.ThrowIfNull(interleaved);
        if ((long)grid.VoxelCount * grid.Dimension != interleaved.Length)
            throw new ArgumentException($"A displacement field on {grid} needs {(long)grid.VoxelCount * grid.Dimension} values, got {interleaved.Length}.", nameof(interleaved));
        Grid = grid;
        _data = interleaved;
    }

    public Grid Grid { get; }

    /// <summary>Components per voxel: 2 on a 2D grid, 3 on a 3D grid.</summary>
    public int Components => Grid.Dimension;

    /// <summary>Read-only view of the interleaved vectors.</summary>
    public ReadOnlySpan<float> Values => _data;

    internal float[] Buffer => _data;

    /// <summary>The vector (world mm) at a voxel; z is 0 on a 2D grid.</summary>
    public (double X, double Y, double Z) this[int x, int y, int z = 0]
    {
        get
        {
            int o = Grid.Index(x, y, z) * Components;
            return (_data[o], _data[o + 1], Components == 3 ? _data[o + 2] : 0);
        }
    }

    /// <summary>One component (0 = world x, 1 = y, 2 = z; mm) as an image on the field's grid.</summary>
    public Image Component(int axis)
    {
        if (axis < 0 || axis >= Components) throw new ArgumentOutOfRangeException(nameof(axis), $"The field has {Components} components.");
        var v = new float[Grid.VoxelCount];
        for (int i = 0; i < v.Length; i++) v[i] = _data[i * Components + axis];
        return Image.FromVoxels(Grid, v);
    }

    /// <summary>Largest vector length in mm.</summary>
    public double MaxNorm()
    {
        double m = 0;
        int c = Components;
        for (int i = 0; i < Grid.VoxelCount; i++)
        {
            double s = 0;
            for (int a = 0; a < c; a++) s += (double)_data[i * c + a] * _data[i * c + a];
            m = Math.Max(m, s);
        }
        return Math.Sqrt(m);
    }

    /// <summary>
    /// The in-plane displacement of one slice in voxel units of that slice, for drawing a deformation grid.
    /// axis 2 = axial (fixed k; dx along i, dy along j; width NX, height NY), 1 = coronal (fixed j; dx along i, dy along k;
    /// width NX, height NZ), 0 = sagittal (fixed i; dx along j, dy along k; width NY, height NZ). Arrays are row-major
    /// with the width index fastest. For a 2D grid axis and slice are ignored. World vectors are taken to voxel
    /// units with the grid's world-to-grid matrix, so oblique and permuted grids come out right.
    /// </summary>
    public (float[] dx, float[] dy, int width, int height) SliceInVoxels(int axis, int slice)
    {
        var g = Grid;
        if (g.Dimension == 2) { axis = 2; slice = 0; }
        if (axis is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(axis), "Axis is 0 (sagittal), 1 (coronal) or 2 (axial).");
        int limit = axis == 0 ? g.NX : axis == 1 ? g.NY : g.NZ;
        if (slice < 0 || slice >= limit) throw new ArgumentOutOfRangeException(nameof(slice), $"Slice {slice} is outside 0..{limit - 1}.");
        var fg = new FieldGrid(g);
        var w = fg.W;
        int width = axis == 0 ? g.NY : g.NX, height = axis == 2 ? g.NY : g.NZ;
        int ca = axis == 0 ? 1 : 0, cb = axis == 2 ? 1 : 2;
        var dx = new float[width * height];
        var dy = new float[width * height];
        int c = Components;
        for (int b = 0; b < height; b++)
            for (int a = 0; a < width; a++)
            {
                int i = axis == 0 ? slice : a, j = axis == 0 ? a : axis == 1 ? slice : b, k = axis == 2 ? slice : b;
                int o = g.Index(i, j, k) * c;
                double x = _data[o], y = _data[o + 1], z = c == 3 ? _data[o + 2] : 0;
                double vi = w[0] * x + w[1] * y + w[2] * z, vj = w[3] * x + w[4] * y + w[5] * z, vk = w[6] * x + w[7] * y + w[8] * z;
                double va = ca == 0 ? vi : vj, vb = cb == 1 ? vj : vk;
                dx[b * width + a] = (float)va;
                dy[b * width + a] = (float)vb;
            }
        return (dx, dy, width, height);
    }

    /// <summary>The vectors as a working 3-component buffer (z = 0 in 2D).</summary>
    internal float[] ToWorking()
    {
        if (Components == 3) return (float[])_data.Clone();
        var w = new float[3 * Grid.VoxelCount];
        for (int i = 0; i < Grid.VoxelCount; i++) { w[3 * i] = _data[2 * i]; w[3 * i + 1] = _data[2 * i + 1]; }
        return w;
    }

    /// <summary>A read-only 3-component view: the buffer itself in 3D, a converted copy in 2D. Callers must not write to it.</summary>
    internal float[] ToWorkingShared() => Components == 3 ? _data : ToWorking();

    /// <summary>A field from a working 3-component buffer (the first grid.VoxelCount vectors).</summary>
    /// <param name="takeOwnership">In 3D, use the buffer itself when it has exactly 3 values per voxel (the caller must not touch it again).</param>
    internal static DisplacementField FromWorking(Grid grid, float[] working, bool takeOwnership = false)
    {
        int n = grid.VoxelCount;
        if (grid.Dimension == 3)
            return new DisplacementField(grid, takeOwnership && working.Length == 3 * n ? working : working.AsSpan(0, 3 * n).ToArray());
        var d = new float[2 * n];
        for (int i = 0; i < n; i++) { d[2 * i] = working[3 * i]; d[2 * i + 1] = working[3 * i + 1]; }
        return new DisplacementField(grid, d);
    }
}
