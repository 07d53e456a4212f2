namespace RegPS.Engine.Images;

/// <summary>
/// A sampling grid: a 2D or 3D shape (x fastest, NIfTI order) and the grid-to-world matrix in RAS millimetres.
/// A 2D grid has NZ = 1 and its matrix still is 4x4 (the z row is carried along unchanged).
/// </summary>
public sealed class Grid : IEquatable<Grid>
{
    public Grid(int nx, int ny, int nz, Matrix4 gridToWorld, int dimension = 3)
    {
        if (nx <= 0 || ny <= 0 || nz <= 0) throw new ArgumentOutOfRangeException(nameof(nx), $"Grid sizes must be positive, got {nx}x{ny}x{nz}.");
        if (dimension is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(dimension), "A grid is 2D or 3D.");
        if (dimension == 2 && nz != 1) throw new ArgumentException("A 2D grid has one slice.", nameof(nz));
        long count = (long)nx * ny * nz;
        if (count > Array.MaxLength) throw new ArgumentException($"A grid of {nx}x{ny}x{nz} voxels is larger than one buffer can hold.");
        if (!gridToWorld.IsFinite) throw new ArgumentException("The grid-to-world matrix has non-finite values.", nameof(gridToWorld));
        NX = nx; NY = ny; NZ = nz;
        Dimension = dimension;
        GridToWorld = gridToWorld;
        if (!gridToWorld.TryInverse(out var inv))
            throw new ArgumentException("The grid-to-world matrix is singular (a zero voxel size?).", nameof(gridToWorld));
        WorldToGrid = inv;
    }

    public static Grid Create2D(int nx, int ny, double spacingX = 1, double spacingY = 1) =>
        new(nx, ny, 1, Matrix4.Scaling(spacingX, spacingY, 1), 2);

    public static Grid Create3D(int nx, int ny, int nz, double sx = 1, double sy = 1, double sz = 1) =>
        new(nx, ny, nz, Matrix4.Scaling(sx, sy, sz), 3);

    public int NX { get; }
    public int NY { get; }
    public int NZ { get; }
    public int Dimension { get; }
    public Matrix4 GridToWorld { get; }
    public Matrix4 WorldToGrid { get; }
    public int VoxelCount => NX * NY * NZ;
    public int SliceSize => NX * NY;

    public int[] Shape => Dimension == 2 ? new[] { NX, NY } : new[] { NX, NY, NZ };

    /// <summary>Voxel sizes: the column norms of the 3x3 block (DIPY's get_direction_and_spacings).</summary>
    public double[] Spacing
    {
        get
        {
            var s = new double[Dimension];
            for (int j = 0; j < Dimension; j++)
                s[j] = Math.Sqrt(GridToWorld[0, j] * GridToWorld[0, j] + GridToWorld[1, j] * GridToWorld[1, j] + GridToWorld[2, j] * GridToWorld[2, j]);
            return s;
        }
    }

    public int Index(int x, int y, int z) => (z * NY + y) * NX + x;

    /// <summary>The world position (mm) of a voxel index (may be fractional).</summary>
    public (double X, double Y, double Z) ToWorld(double i, double j, double k) => GridToWorld.Apply(i, j, k);

    /// <summary>The continuous voxel index of a world point.</summary>
    public (double X, double Y, double Z) ToIndex(double x, double y, double z) => WorldToGrid.Apply(x, y, z);

    /// <summary>Orientation code such as "RAS" or "LPS" (which world direction each voxel axis increases towards).</summary>
    public string Orientation => OrientationCode.FromMatrix(GridToWorld, Dimension);

    /// <summary>True when both grids have the same shape and grid-to-world matrices agree to <paramref name="tolerance"/>.</summary>
    public bool SameAs(Grid other, double tolerance = 1e-5) =>
        other.NX == NX && other.NY == NY && other.NZ == NZ && other.Dimension == Dimension &&
        GridToWorld.MaxAbsDifference(other.GridToWorld) <= tolerance;

    public bool Equals(Grid? other) => other is not null && SameAs(other, 0);
    public override bool Equals(object? obj) => obj is Grid g && Equals(g);
    public override int GetHashCode() => HashCode.Combine(NX, NY, NZ, Dimension, GridToWorld);

    /// <summary>A grid with the same matrix and another shape (e.g. for a coarser level).</summary>
    public Grid WithMatrix(int nx, int ny, int nz, Matrix4 g2w) => new(nx, ny, nz, g2w, Dimension);

    public override string ToString() => string.Join("x", Shape) + " " + string.Join("x", Spacing.Select(s => s.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture))) + " mm " + Orientation;
}
