using RegPS.Engine.Images;

namespace RegPS.Rendering;

/// <summary>
/// Planes of 3D images and fields, cut the way <see cref="StereoOverlay"/> shows them, so a deformation grid of a
/// 3D registration can be drawn on the same slice as its overlay. A plane keeps voxel index order (no flip): its
/// x is the first in-plane voxel axis and its y the second (axial: i, j; coronal: i, k; sagittal: j, k), and its grid
/// is 3D with one slice, so the renderers draw y increasing upwards, as they draw 3D slices.
/// </summary>
public static class Slices
{
    /// <summary>The voxel axes (0 = i, 1 = j, 2 = k) across, up and normal to the plane of <paramref name="axis"/>.</summary>
    internal static (int Across, int Up, int Normal) Axes(SliceAxis axis) => axis switch
    {
        SliceAxis.Axial => (0, 1, 2),
        SliceAxis.Coronal => (0, 2, 1),
        SliceAxis.Sagittal => (1, 2, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    /// <summary>The slice index used for <paramref name="slice"/> (null: the middle, n / 2), checked against the grid.</summary>
    public static int ResolveSlice(Grid grid, SliceAxis axis, int? slice)
    {
        ArgumentNullException.ThrowIfNull(grid);
        if (grid.Dimension != 3) throw new ArgumentException("Slices are cut from 3D grids; a 2D image is already a plane.", nameof(grid));
        int n = Size(grid, Axes(axis).Normal);
        int s = slice ?? n / 2;
        if (s < 0 || s >= n)
            throw new ArgumentOutOfRangeException(nameof(slice), $"Slice {s} is outside the image: the {axis.ToString().ToLowerInvariant()} axis has slices 0..{n - 1}.");
        return s;
    }

    /// <summary>
    /// The grid of one plane: shape (across, up, 1) and a grid-to-world matrix whose columns are the 3D grid's columns for
    /// the two in-plane axes and the normal axis, with the origin moved to the slice, so plane voxels keep their world positions.
    /// </summary>
    public static Grid PlaneGrid(Grid grid, SliceAxis axis, int? slice = null)
    {
        int s = ResolveSlice(grid, axis, slice);
        var (a, u, nrm) = Axes(axis);
        var m = grid.GridToWorld;
        var r = new double[16];
        int[] cols = { a, u, nrm };
        for (int row = 0; row < 3; row++)
        {
            for (int c = 0; c < 3; c++) r[row * 4 + c] = m[row, cols[c]];
            r[row * 4 + 3] = m[row, 3] + m[row, nrm] * s;
        }
        r[15] = 1;
        return new Grid(Size(grid, a), Size(grid, u), 1, new Matrix4(r), 3);
    }

    /// <summary>One plane of a 3D image as an image on <see cref="PlaneGrid"/> (first volume of a 4D image; colour planes are dropped).</summary>
    public static Image Extract(Image image, SliceAxis axis, int? slice = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var g = image.Grid;
        var plane = PlaneGrid(g, axis, slice);
        var values = Cut(g, image.Voxels.Slice(0, g.VoxelCount), axis, ResolveSlice(g, axis, slice));
        return new Image(plane, values, 1, null, image.SourcePath, image.DataType);
    }

    /// <summary>
    /// The in-plane components of a 3D displacement field given in voxels along i, j and k (three planar arrays, x
    /// fastest): for the plane of <paramref name="axis"/>, the components along its across and up axes, in the layout
    /// <see cref="DeformationGrid.Render"/> takes with <see cref="PlaneGrid"/>. The out-of-plane component is not drawn.
    /// </summary>
    public static (float[] Across, float[] Up) ExtractInPlane(Grid grid, float[] di, float[] dj, float[] dk, SliceAxis axis, int? slice = null)
    {
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentNullException.ThrowIfNull(di); ArgumentNullException.ThrowIfNull(dj); ArgumentNullException.ThrowIfNull(dk);
        if (di.Length != grid.VoxelCount || dj.Length != grid.VoxelCount || dk.Length != grid.VoxelCount)
            throw new ArgumentException($"Each displacement component needs {grid.VoxelCount} values for {grid}.", nameof(di));
        int s = ResolveSlice(grid, axis, slice);
        var (a, u, _) = Axes(axis);
        var comps = new[] { di, dj, dk };
        return (Cut(grid, comps[a], axis, s), Cut(grid, comps[u], axis, s));
    }

    /// <summary>Copies the plane of <paramref name="axis"/> at slice <paramref name="s"/> in index order (across fastest, up increasing).</summary>
    internal static float[] Cut(Grid g, ReadOnlySpan<float> v, SliceAxis axis, int s)
    {
        var (a, u, nrm) = Axes(axis);
        int w = Size(g, a), h = Size(g, u);
        var result = new float[w * h];
        Span<int> idx = stackalloc int[3];
        idx[nrm] = s;
        for (int r = 0; r < h; r++)
        {
            idx[u] = r;
            for (int c = 0; c < w; c++)
            {
                idx[a] = c;
                result[r * w + c] = v[g.Index(idx[0], idx[1], idx[2])];
            }
        }
        return result;
    }

    private static int Size(Grid g, int axis) => axis switch { 0 => g.NX, 1 => g.NY, _ => g.NZ };
}
